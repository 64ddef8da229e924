"""Architecture search over the GraphNAS macro space, on any ``Data`` with
training and validation masks (an original graph or a condensed one)."""
import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from tqdm.auto import tqdm

from hcdc_graph.nas.space import DECISIONS, NUM_LAYERS, Architecture
from hcdc_graph.validation import check_graph

STRATEGIES = ('random', 'reinforce')


@dataclasses.dataclass(frozen=True)
class ChildRecipe:
    """How GraphNAS trains each sampled architecture: Adam (lr 0.005,
    weight decay 5e-4), dropout 0.6, full batch; the score is the
    validation accuracy at the epoch of lowest validation loss."""
    epochs: int = 200
    lr: float = 0.005
    weight_decay: float = 5e-4
    dropout: float = 0.6
    max_width: Optional[int] = None  # cap on heads x hidden (large graphs)


def train_child(arch: Architecture, data: Data,
                recipe: Optional[ChildRecipe] = None, seed: int = 0) -> Dict:
    """Trains ``arch`` on ``data.train_mask``; returns ``val_acc`` and
    ``val_loss`` at the epoch of lowest validation loss (and ``test_acc``
    there when ``data`` has a test split), the epoch and the seconds."""
    recipe = recipe or ChildRecipe()
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = arch.to_model(data.num_features, int(data.y.max()) + 1,
                          recipe.dropout, recipe.max_width)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr,
                           weight_decay=recipe.weight_decay)
    weight = getattr(data, 'edge_weight', None)
    test = getattr(data, 'test_mask', None)
    best = {'val_loss': float('inf')}
    for epoch in range(recipe.epochs):
        model.train()
        opt.zero_grad()
        out = model(data.x, data.edge_index, weight)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]) \
            .backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            out = model(data.x, data.edge_index, weight)
        val_loss = float(F.cross_entropy(out[data.val_mask],
                                         data.y[data.val_mask]))
        if val_loss < best['val_loss']:
            pred = out.argmax(-1)
            best = {'val_loss': val_loss, 'epoch': epoch,
                    'val_acc': float((pred == data.y)[data.val_mask]
                                     .float().mean())}
            if test is not None and bool(test.any()):
                best['test_acc'] = float((pred == data.y)[test].float()
                                         .mean())
    if best['val_loss'] == float('inf'):  # NaN losses throughout
        best = {'val_loss': float('nan'), 'val_acc': 0.0, 'epoch': -1}
    best['seconds'] = time.perf_counter() - start
    return best


class ReinforceController(torch.nn.Module):
    r"""GraphNAS's controller: an LSTM cell (100 units) that makes the
    decisions of :data:`~hcdc_graph.nas.space.DECISIONS` layer by layer,
    each from its own linear decoder, its input the embedding of the
    previous choice. Logits are divided by a temperature of 5 and squashed
    by :math:`2.5 \tanh`; trained by REINFORCE (Adam, lr 3.5e-4) with the
    validation accuracy as reward, a moving-average baseline (decay 0.95)
    and an entropy bonus (1e-4)."""
    def __init__(self, hidden: int = 100, temperature: float = 5.0,
                 tanh_constant: float = 2.5, lr: float = 3.5e-4,
                 baseline_decay: float = 0.95, entropy_weight: float = 1e-4):
        super().__init__()
        self.sizes = [len(c) for _, c in DECISIONS] * NUM_LAYERS
        self.cell = torch.nn.LSTMCell(hidden, hidden)
        self.embeddings = torch.nn.ModuleList(
            torch.nn.Embedding(n, hidden) for n in self.sizes)
        self.decoders = torch.nn.ModuleList(
            torch.nn.Linear(hidden, n) for n in self.sizes)
        self.hidden, self.temperature = hidden, temperature
        self.tanh_constant = tanh_constant
        self.baseline_decay, self.entropy_weight = baseline_decay, \
            entropy_weight
        self.baseline: Optional[float] = None
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)

    def sample(self, generator: torch.Generator):
        """``(indices, sum of log-probabilities, sum of entropies)``."""
        h = c = torch.zeros(1, self.hidden)
        x = torch.zeros(1, self.hidden)
        indices, log_probs, entropies = [], [], []
        for i, decoder in enumerate(self.decoders):
            h, c = self.cell(x, (h, c))
            logits = self.tanh_constant * torch.tanh(decoder(h) /
                                                     self.temperature)
            probs = F.softmax(logits, dim=-1)
            choice = int(torch.multinomial(probs[0], 1, generator=generator))
            log_p = F.log_softmax(logits, dim=-1)
            log_probs.append(log_p[0, choice])
            entropies.append(-(probs * log_p).sum())
            indices.append(choice)
            x = self.embeddings[i](torch.tensor([choice]))
        return indices, torch.stack(log_probs).sum(), \
            torch.stack(entropies).sum()

    def update(self, log_prob: torch.Tensor, entropy: torch.Tensor,
               reward: float) -> None:
        """One REINFORCE step for a sampled architecture's reward."""
        if self.baseline is None:
            self.baseline = reward
        else:
            self.baseline = self.baseline_decay * self.baseline + \
                (1 - self.baseline_decay) * reward
        advantage = reward - self.baseline
        loss = -advantage * log_prob - self.entropy_weight * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def search(data: Data, strategy: str = 'random', archs: Optional[int] = 100,
           seconds: Optional[float] = None, seed: int = 0,
           recipe: Optional[ChildRecipe] = None,
           history_file: Optional[str] = None,
           progress: bool = True) -> Dict:
    """Samples architectures with ``strategy`` (``'random'`` or
    ``'reinforce'``) and trains each on ``data``, until ``archs``
    architectures or ``seconds`` of search (whichever comes first).
    Returns ``{'history': [...], 'best': ...}``: per architecture its
    ``arch`` (a dict), ``val_acc``, ``val_loss``, ``seconds`` and the
    search's elapsed seconds; the best by validation accuracy, ties by
    loss.

    With ``history_file`` (JSON lines, one architecture each) a stopped
    search resumes: the recorded architectures are proposed again from the
    same seed (the controller replays their rewards instead of training
    them again) and the search continues after them."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'; choose one of "
                         f"{', '.join(STRATEGIES)}")
    if archs is None and seconds is None:
        raise ValueError("Give a budget: 'archs', 'seconds' or both")
    check_graph(data)
    recipe = recipe or ChildRecipe()
    done = _read_history(history_file)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the controller's initial weights
    controller = ReinforceController() if strategy == 'reinforce' else None
    history: List[Dict] = []
    elapsed = done[-1]['elapsed'] if done else 0.0
    start = time.perf_counter() - elapsed
    bar = tqdm(total=archs, desc=f'nas ({strategy})', disable=not progress)
    while (archs is None or len(history) < archs) and \
            (seconds is None or time.perf_counter() - start < seconds):
        if controller is None:
            arch, log_prob, entropy = Architecture.sample(gen), None, None
        else:
            indices, log_prob, entropy = controller.sample(gen)
            arch = Architecture.from_indices(indices)
        i = len(history)
        if i < len(done):
            if done[i]['arch'] != arch.to_dict():
                raise ValueError(f"'{history_file}' was written by another "
                                 f"search (seed, strategy or space); use "
                                 f"another file")
            entry = done[i]
        else:
            entry = {'arch': arch.to_dict(),
                     **train_child(arch, data, recipe, seed=i)}
            entry['elapsed'] = time.perf_counter() - start
            if history_file:
                with open(history_file, 'a') as f:
                    f.write(json.dumps(entry) + '\n')
        if controller is not None:
            controller.update(log_prob, entropy, entry['val_acc'])
        history.append(entry)
        bar.update(1)
    bar.close()
    best = max(history, key=merit) if history else None
    return {'history': history, 'best': best}


def merit(entry: Dict) -> tuple:
    """How a history entry ranks: higher validation accuracy first, then
    lower validation loss (what :func:`search` calls the best)."""
    return entry['val_acc'], -entry['val_loss']


def _read_history(path: Optional[str]) -> List[Dict]:
    if not path or not os.path.exists(path):
        return []
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError:
                # the last line of a killed run may be cut: drop it
                if number == sum(1 for _ in open(path)):
                    break
                raise ValueError(f"'{path}' line {number} is not JSON; "
                                 f"delete the file to start over") from None
    return entries


def retrain(arch: Architecture, original: Data, seeds=(0, 1, 2),
            recipe: Optional[ChildRecipe] = None) -> Dict:
    """``arch`` trained on the original graph once per seed: test accuracy
    at the epoch of lowest validation loss, mean and per seed."""
    check_graph(original, masks=('train_mask', 'val_mask', 'test_mask'))
    runs = [train_child(arch, original, recipe, seed=s) for s in seeds]
    accs = [r['test_acc'] for r in runs]
    return {'arch': arch.to_dict(), 'test_acc': sum(accs) / len(accs),
            'test_acc_per_seed': accs, 'seeds': list(seeds)}


__all__ = ['ChildRecipe', 'ReinforceController', 'train_child', 'search',
           'merit', 'retrain', 'STRATEGIES']
