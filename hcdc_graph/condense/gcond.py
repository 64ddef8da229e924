"""GCond and GCond-X: gradient-matching graph condensation (Jin et al.,
2022), written for this package."""
import time
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from tqdm.auto import tqdm

from hcdc_graph.checkpoint import random_state, restore_random_state
from hcdc_graph.condense.base import (DEFAULT_RATIO, Condenser,
                                      dense_to_graph, feature_scaled_lr,
                                      features_of_random_nodes)
from hcdc_graph.matching import DISTANCES, gradient_distance
from hcdc_graph.nn import PairwiseGraphGenerator
from hcdc_graph.sparse import csr_adjacency


# Feature learning rate per unit of mean absolute feature (1e-5 on Cora).
FEATURE_LR_SCALE = 0.0143


def propagate(x: Tensor, edge_index: Tensor, num_nodes: int, K: int,
              edge_weight: Optional[Tensor] = None) -> Tensor:
    r""":math:`(\tilde{D}^{-1/2}\tilde{A}\tilde{D}^{-1/2})^K X` with a CSR
    operator (never a dense :math:`n \times n`)."""
    ei, w = gcn_norm(edge_index, edge_weight, num_nodes, add_self_loops=True,
                     dtype=x.dtype)
    adj = csr_adjacency(ei, w, num_nodes)
    for _ in range(K):
        x = adj @ x
    return x


def dense_propagate(x: Tensor, adj: Tensor, K: int) -> Tensor:
    """The same for a dense (learned) adjacency, differentiable in ``adj``.

    With fewer nodes than features the :math:`K`-th power of the operator is
    formed first (:math:`O(K n^3 + n^2 d)` instead of :math:`O(K n^2 d)`:
    half the cost at :math:`K = 2` on a condensed CiteSeer)."""
    n = adj.size(0)
    adj = adj + torch.eye(n, dtype=adj.dtype, device=adj.device)
    d = adj.sum(1).pow(-0.5)
    norm = d.view(-1, 1) * adj * d.view(1, -1)
    if K > 1 and n < x.size(1):
        return torch.linalg.matrix_power(norm, K) @ x
    for _ in range(K):
        x = norm @ x
    return x


class GCondXCondenser(Condenser):
    r"""GCond-X: learns synthetic node features by gradient matching, with
    the identity as adjacency throughout (condensation *and* the emitted
    graph, which has no edges; the reference code's flag only swaps the
    identity in at test time, a known confusion).

    Each epoch draws a fresh linear matching model (SGC: logits
    :math:`= \hat{A}^K X W + b`). For ``outer_loop`` steps, per class
    :math:`c`, the gradient of the cross-entropy w.r.t. :math:`W` on up to
    ``batch_size`` real training nodes of class :math:`c` (with features
    propagated once over the original graph and cached: the real side is
    linear) is matched with the gradient on the synthetic nodes of class
    :math:`c` (``distance``, see :func:`gradient_distance`); the synthetic
    data take one Adam step; then the model trains ``inner_loop`` steps on
    the synthetic data.

    Synthetic features start from randomly chosen real training nodes of
    each class; labels are fixed and class-proportional (see
    :class:`Condenser` for the budgets).

    Method options:
        epochs (int): outer epochs. (default: :obj:`200`; the reference
            runs 600 on Cora, 3x the cost for little gain here)
        outer_loop (int): matching steps per epoch. (default: :obj:`20`)
        inner_loop (int): model steps after each matching step.
            (default: :obj:`15`)
        lr_feat (float, optional): Adam learning rate of the features.
            Default: ``FEATURE_LR_SCALE`` (0.0143) times the mean absolute
            training feature, i.e. 1e-5 on Cora and 3.9e-6 on CiteSeer. Adam
            moves every coordinate by about the learning rate per step, so it
            must follow the feature scale: on Cora (row-normalized features,
            mean 7e-4) the reference's 1e-4 drove the features to many times
            their scale and GCN accuracy fell to 52-63 % (1e-5: 72-76 %,
            measured); on CiteSeer (mean 2.7e-4) 1e-5 gave 54.7 %.
        lr_model (float): Adam learning rate of the matching model.
            (default: :obj:`0.01`)
        K (int): propagation steps of the matching model. (default: :obj:`2`)
        batch_size (int): real nodes per class per step. (default: 256)
        distance (str): ``'ours'``, ``'mse'`` or ``'cos'``.
            (default: :obj:`'ours'`)

    After :meth:`fit`: ``features_`` (the synthetic features),
    ``loss_history_`` (mean matching loss per epoch), ``epoch_seconds_``
    (wall time per epoch: a short run projects a long one), ``condensed_``.
    """
    method = 'gcond-x'
    learn_structure = False

    def __init__(self, data: Data, ratio: float = DEFAULT_RATIO,
                 val_ratio: Optional[float] = None, seed: int = 0,
                 device=None, progress: bool = True, epochs: int = 200,
                 outer_loop: int = 20, inner_loop: int = 15,
                 lr_feat: Optional[float] = None, lr_model: float = 0.01,
                 K: int = 2,
                 batch_size: int = 256, distance: str = 'ours',
                 checkpoint: Optional[str] = None):
        super().__init__(data, ratio, val_ratio, seed, device, progress,
                         checkpoint)
        if distance not in DISTANCES:
            raise ValueError(f"Unknown distance '{distance}'; choose one of "
                             f"{', '.join(DISTANCES)}")
        for name, value in (('epochs', epochs), ('outer_loop', outer_loop),
                            ('batch_size', batch_size)):
            if value < 1:
                raise ValueError(f"'{name}' must be positive (got {value})")
        self.epochs, self.outer_loop, self.inner_loop = epochs, outer_loop, \
            inner_loop
        if lr_feat is None:
            lr_feat = feature_scaled_lr(data, data.train_mask,
                                        FEATURE_LR_SCALE)
        self.lr_feat, self.lr_model, self.K = lr_feat, lr_model, K
        self.batch_size, self.distance = batch_size, distance

    # The synthetic graph's propagated features (identity for GCond-X);
    # ``reuse=True``: with the structure of the last call (inner loop).
    def synthetic_propagation(self, x: Tensor,
                              reuse: bool = False) -> Tuple[Tensor, Tensor]:
        return x, torch.zeros(0)

    def structure_parameters(self):
        return []

    def start_epoch(self, structure_epoch: bool) -> None:
        pass

    def is_structure_epoch(self, epoch: int) -> bool:
        return False

    def emit_graph(self, x: Tensor) -> dict:
        return {'edge_index': torch.empty(2, 0, dtype=torch.long),
                'edge_weight': torch.empty(0)}

    def _condense(self) -> Data:
        data, dev = self.data, self.device
        gen = torch.Generator().manual_seed(self.seed)
        y_syn, train_mask, val_mask = self.labels_and_masks(gen)
        num_classes = self.num_classes

        # Real side: propagated once, cached (the matching model is linear).
        real_x = propagate(data.x.float(), data.edge_index, data.num_nodes,
                           self.K).to(dev)
        real_y = data.y.to(dev)
        pools = [torch.where(data.train_mask & (data.y == c))[0]
                 for c in range(num_classes)]

        # Synthetic features from random real training nodes of each class.
        self.features_ = features_of_random_nodes(
            data, data.train_mask, y_syn, gen).to(dev)
        self.features_.requires_grad_(True)
        y_syn = y_syn.to(dev)
        self._setup_structure(self.features_.size(1))
        opt_feat = torch.optim.Adam([self.features_], lr=self.lr_feat)
        opt_struct = torch.optim.Adam(self.structure_parameters(),
                                      lr=self.lr_adj) \
            if self.learn_structure else None
        syn_classes = [c for c in range(num_classes)
                       if bool((y_syn == c).any()) and pools[c].numel() > 0]
        # Classes weighted by their synthetic share, as in the reference.
        counts = torch.bincount(y_syn, minlength=num_classes).float()
        class_weight = counts / counts.max()

        self.loss_history_, self.epoch_seconds_ = [], []
        first = self._restore(self.resumed_state(), opt_feat, opt_struct,
                              gen)
        bar = tqdm(range(first, self.epochs), initial=first,
                   total=self.epochs, desc=f'{self.method} condensation',
                   disable=not self.progress)
        for epoch in bar:
            epoch_start = time.perf_counter()
            W = torch.empty(num_classes, data.num_features, device=dev)
            torch.nn.init.xavier_uniform_(W)
            b = torch.zeros(num_classes, device=dev)
            W.requires_grad_(True)
            b.requires_grad_(True)
            opt_model = torch.optim.Adam([W, b], lr=self.lr_model)
            structure_epoch = self.is_structure_epoch(epoch)
            self.start_epoch(structure_epoch)
            epoch_loss = 0.0
            for step in range(self.outer_loop):
                syn_px = self.synthetic_propagation(self.features_)[0]
                loss = 0.0
                for c in syn_classes:
                    pool = pools[c]
                    batch = pool[torch.randperm(pool.numel(), generator=gen)
                                 [:self.batch_size]]
                    real_loss = F.cross_entropy(real_x[batch] @ W.t() + b,
                                                real_y[batch])
                    g_real = torch.autograd.grad(real_loss, [W, b])
                    g_real = [g.detach() for g in g_real]
                    sel = y_syn == c
                    syn_loss = F.cross_entropy(syn_px[sel] @ W.t() + b,
                                               y_syn[sel])
                    g_syn = torch.autograd.grad(syn_loss, [W, b],
                                                create_graph=True)
                    loss = loss + class_weight[c] * gradient_distance(
                        g_real, g_syn, self.distance)
                opt_feat.zero_grad()
                if opt_struct is not None:
                    opt_struct.zero_grad()
                loss.backward()
                if structure_epoch:
                    opt_struct.step()
                else:
                    opt_feat.step()
                epoch_loss += float(loss.detach())
                if step == self.outer_loop - 1:
                    break
                # Train the matching model on the synthetic data.
                with torch.no_grad():
                    px = self.synthetic_propagation(self.features_,
                                                    reuse=True)[0]
                for _ in range(self.inner_loop):
                    opt_model.zero_grad()
                    F.cross_entropy(px @ W.t() + b, y_syn).backward()
                    opt_model.step()
            self.loss_history_.append(epoch_loss / self.outer_loop)
            self.epoch_seconds_.append(time.perf_counter() - epoch_start)
            bar.set_postfix(loss=f'{self.loss_history_[-1]:.4f}')
            self.save_state({
                'epoch': epoch, 'features': self.features_.detach(),
                'opt_feat': opt_feat.state_dict(),
                'structure': [p.detach() for p in
                              self.structure_state()],
                'opt_struct': opt_struct.state_dict() if opt_struct
                else None,
                **random_state(gen),
                'loss_history': self.loss_history_,
                'epoch_seconds': self.epoch_seconds_})

        self.features_ = self.features_.detach()
        x = self.features_.cpu()
        return Data(x=x, y=y_syn.cpu(), train_mask=train_mask,
                    val_mask=val_mask, **self.emit_graph(x))

    def _setup_structure(self, in_channels: int) -> None:
        pass

    def structure_state(self):
        """The structure model's parameters and buffers (checkpointed)."""
        return []

    def _restore(self, state, opt_feat, opt_struct, gen) -> int:
        """Loads a checkpoint's state (:meth:`resumed_state`) into the
        features, the structure model, their optimizers, the random number
        generators and the histories; returns the first epoch to run."""
        if state is None:
            return 0
        with torch.no_grad():
            self.features_.copy_(state['features'])
            for p, saved in zip(self.structure_state(), state['structure']):
                p.copy_(saved)
        opt_feat.load_state_dict(state['opt_feat'])
        if opt_struct is not None:
            opt_struct.load_state_dict(state['opt_struct'])
        restore_random_state(state, gen)
        self.loss_history_ = list(state['loss_history'])
        self.epoch_seconds_ = list(state['epoch_seconds'])
        return state['epoch'] + 1


class GCondCondenser(GCondXCondenser):
    r"""GCond: GCond-X's feature learning plus a learned structure.

    The synthetic adjacency is :class:`~hcdc_graph.nn.PairwiseGraphGenerator`
    applied to the synthetic features (symmetric, sigmoid, zero diagonal),
    normalized with self-loops for propagation. Structure and features
    alternate: the generator is updated on the first ``structure_epochs``
    of every ``cycle`` epochs, the features on the others (gradients reach
    the features through the generator too).

    The emitted graph keeps the generator's entries above ``threshold`` as
    ``edge_index``/``edge_weight`` (default 0.05, GCond's value for Cora and
    CiteSeer; use 0.01 on larger graphs).

    Method options (beyond :class:`GCondXCondenser`'s):
        structure_epochs (int): (default: :obj:`10`); cycle (int):
            (default: :obj:`50`); pge_hidden (int): generator width
            (default: :obj:`128`); threshold (float): (default: :obj:`0.05`);
            lr_adj (float): Adam learning rate of the generator
            (default: :obj:`1e-4`); compile (bool): run the generator
            through :func:`torch.compile` (default: :obj:`False`). Its
            :math:`n^2` pair MLP dominates a structure epoch; compiled, one
            forward and backward at 894 synthetic nodes (CiteSeer 5.2 %)
            took 2.7 s instead of 7.9 s on one CPU thread, after a 30 s
            compilation, and its float32 adjacency was closer to a float64
            reference (2e-6 against eager's 1e-2, which loses precision in
            BatchNorm over the :math:`n^2` pairs). Like ``device``, it is
            not part of the configuration a cached graph or checkpoint
            must match.

    After :meth:`fit`, also ``generator_`` and ``adjacency_`` (the dense
    adjacency before thresholding).
    """
    method = 'gcond'
    learn_structure = True

    def __init__(self, data: Data, ratio: float = DEFAULT_RATIO,
                 val_ratio: Optional[float] = None, seed: int = 0,
                 device=None, progress: bool = True,
                 structure_epochs: int = 10, cycle: int = 50,
                 pge_hidden: int = 128, threshold: float = 0.05,
                 lr_adj: float = 1e-4, compile: bool = False, **options):
        super().__init__(data, ratio, val_ratio, seed, device, progress,
                         **options)
        if not 0 <= structure_epochs <= cycle:
            raise ValueError("'structure_epochs' must be in [0, cycle]")
        if not 0 <= threshold < 1:
            raise ValueError(f"'threshold' must be in [0, 1) (got "
                             f"{threshold})")
        self.structure_epochs, self.cycle = structure_epochs, cycle
        self.pge_hidden, self.threshold = pge_hidden, threshold
        self.lr_adj = lr_adj
        self.compile = compile

    def _setup_structure(self, in_channels: int) -> None:
        self.generator_ = PairwiseGraphGenerator(
            in_channels, self.pge_hidden).to(self.device)
        # Training-mode forwards only; emit_graph's eval forward stays eager.
        self._generate = torch.compile(self.generator_) if self.compile \
            else self.generator_

    def structure_parameters(self):
        return list(self.generator_.parameters())

    def structure_state(self):
        return list(self.generator_.state_dict(keep_vars=True).values())

    def is_structure_epoch(self, epoch: int) -> bool:
        return epoch % self.cycle < self.structure_epochs

    def start_epoch(self, structure_epoch: bool) -> None:
        # Feature epochs hold the structure fixed: one generator forward per
        # epoch instead of a forward and backward per step (the generator is
        # O(n^2) and dominates the cost). The reference code also lets
        # feature gradients flow through the generator in those epochs.
        self._structure_epoch = structure_epoch
        if not structure_epoch:
            with torch.no_grad():
                self._fixed_adj = self._generate(self.features_)

    def synthetic_propagation(self, x: Tensor,
                              reuse: bool = False) -> Tuple[Tensor, Tensor]:
        if reuse or not self._structure_epoch:
            adj = self._fixed_adj
        else:
            adj = self._generate(x)
            self._fixed_adj = adj.detach()
        return dense_propagate(x, adj, self.K), adj

    def emit_graph(self, x: Tensor) -> dict:
        self.generator_.eval()
        with torch.no_grad():
            adj = self.generator_(x.to(self.device)).cpu()
        self.generator_.train()
        self.adjacency_ = adj
        return dense_to_graph(adj, self.threshold)
