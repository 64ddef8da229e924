"""Hyperparameter search on a condensed graph with Optuna, and retraining the
winner on the original graph.

Needs the optional extra ``[search]`` (Optuna 5); ``[postgres]`` adds the
PostgreSQL driver for studies shared by many machines.

Storage, by URL (``storage=``):

- :obj:`None`: in memory (one process);
- ``sqlite:///study.db``: a file, so a study can be resumed;
- ``journal:PATH``: Optuna's journal file backend, for several processes on
  one machine (:func:`search` with ``workers > 1`` uses it);
- ``postgresql+psycopg2://user@host/db``: many machines. Create the study
  once (:func:`create_study`) before the workers start: workers creating the
  same study on an empty PostgreSQL database race on the schema (Optuna
  issue #1092).
"""
import dataclasses
import multiprocessing
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch_geometric.data import Data

from hcdc_graph.evaluation import (Recipe, evaluate_configs,
                                   unit_peak_gain)
from hcdc_graph.validation import check_graph

# The hyperparameters a search can tune beyond the filter, with their ranges.
TUNABLE = ('lr', 'weight_decay', 'dropout', 'hidden')
SAMPLERS = ('tpe', 'random')


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ImportError("hcdc_graph.search needs Optuna: pip install "
                          "'hcdc-graph[search]'") from None
    return optuna


def storage_from_url(url: Optional[str]):
    """The Optuna storage for ``url`` (see the module docstring); a
    ``ValueError`` for an unknown scheme."""
    optuna = _optuna()
    if url is None:
        return None
    if url.startswith('journal:'):
        from optuna.storages.journal import JournalFileBackend
        return optuna.storages.JournalStorage(
            JournalFileBackend(url[len('journal:'):]))
    if url.startswith(('sqlite:', 'postgresql')):
        return optuna.storages.RDBStorage(url)
    raise ValueError(f"Unknown storage '{url}': use sqlite:///FILE, "
                     f"journal:FILE or postgresql+psycopg2://...")


def _params_to_trial(params: Dict, K: int, recipe: Recipe):
    """The filter (unit peak gain, as the condensed graph was calibrated
    on) and the recipe a trial's parameters stand for."""
    raw = torch.tensor([[params[f'lambda_{k}'] for k in range(K + 1)]])
    overrides = {k: params[k] for k in TUNABLE if k in params}
    return unit_peak_gain(raw), dataclasses.replace(recipe, **overrides)


def filter_objective(condensed: Data, K: int = 2,
                     recipe: Optional[Recipe] = None,
                     tune: Sequence[str] = ()):
    r"""An Optuna objective over the filter coefficients :math:`\lambda`
    (each suggested in :math:`[-1, 1]` as ``lambda_k``, then rescaled to
    unit peak gain over :math:`[0, 2]`, the space of
    :func:`~hcdc_graph.evaluation.sample_filter_configs`), and optionally
    ``tune`` of :data:`TUNABLE`: learning rate (log 1e-3 to 0.1), weight
    decay (log 1e-6 to 1e-2), dropout (0 to 0.8), hidden width (16 to 128).

    A trial trains ``recipe`` on the condensed graph's ``train_mask`` and
    returns its ``val_mask`` accuracy; the validation loss (ties are broken
    by it: :func:`best_trial`) and the rescaled filter are user
    attributes."""
    recipe = recipe or Recipe()
    check_graph(condensed)
    unknown = set(tune) - set(TUNABLE)
    if unknown:
        raise ValueError(f"Cannot tune {sorted(unknown)}; choose from "
                         f"{', '.join(TUNABLE)}")

    def objective(trial) -> float:
        params = {f'lambda_{k}': trial.suggest_float(f'lambda_{k}', -1, 1)
                  for k in range(K + 1)}
        if 'lr' in tune:
            params['lr'] = trial.suggest_float('lr', 1e-3, 0.1, log=True)
        if 'weight_decay' in tune:
            params['weight_decay'] = trial.suggest_float(
                'weight_decay', 1e-6, 1e-2, log=True)
        if 'dropout' in tune:
            params['dropout'] = trial.suggest_float('dropout', 0.0, 0.8)
        if 'hidden' in tune:
            params['hidden'] = trial.suggest_categorical(
                'hidden', [16, 32, 64, 128])
        coeffs, trial_recipe = _params_to_trial(params, K, recipe)
        result = evaluate_configs(condensed, coeffs, trial_recipe)
        trial.set_user_attr('val_loss', float(result['loss'][0]))
        trial.set_user_attr('coeffs', coeffs[0].tolist())
        return float(result['acc'][0])

    return objective


def create_study(storage: Optional[str] = None,
                 study_name: str = 'hcdc-search', sampler: str = 'tpe',
                 seed: int = 0):
    """Creates the study (or loads it when ``storage`` already has it)."""
    optuna = _optuna()
    if sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler '{sampler}'; choose from "
                         f"{', '.join(SAMPLERS)}")
    sampler_obj = optuna.samplers.TPESampler(seed=seed) if sampler == 'tpe' \
        else optuna.samplers.RandomSampler(seed=seed)
    return optuna.create_study(storage=storage_from_url(storage),
                               study_name=study_name, direction='maximize',
                               sampler=sampler_obj, load_if_exists=True)


def _work(condensed: Data, storage: str, study_name: str, n_trials: int,
          sampler: str, seed: int, K: int, recipe: Recipe,
          tune: Sequence[str]) -> None:
    """One worker process: trials until the study has ``n_trials``."""
    optuna = _optuna()
    torch.set_num_threads(1)  # one core per worker
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(storage, study_name, sampler, seed)
    study.optimize(filter_objective(condensed, K, recipe, tune),
                   callbacks=[optuna.study.MaxTrialsCallback(
                       n_trials, states=(optuna.trial.TrialState.COMPLETE, ))])


def search(condensed: Data, n_trials: int, storage: Optional[str] = None,
           sampler: str = 'tpe', seed: int = 0,
           study_name: str = 'hcdc-search', K: int = 2,
           recipe: Optional[Recipe] = None, tune: Sequence[str] = (),
           workers: int = 1, progress: bool = False):
    """Runs :func:`filter_objective` on ``condensed`` until the study holds
    ``n_trials`` completed trials (a resumed study continues its count) and
    returns it. ``workers > 1`` runs that many processes on this machine;
    they share ``storage``, which must then be a journal, SQLite or
    PostgreSQL URL (``journal:FILE`` is the one-machine choice)."""
    optuna = _optuna()
    if n_trials < 1 or workers < 1:
        raise ValueError("'n_trials' and 'workers' must be positive")
    if workers > 1 and storage is None:
        raise ValueError("Several workers share a study through storage: "
                         "pass e.g. storage='journal:study.log'")
    recipe = recipe or Recipe()
    if not progress:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_study(storage, study_name, sampler, seed)  # once, first
    if workers == 1:
        missing = n_trials - len(_completed_trials(study))
        if missing > 0:
            study.optimize(filter_objective(condensed, K, recipe, tune),
                           n_trials=missing, show_progress_bar=progress)
        return study
    # Each worker gets its own sampler seed, or all would suggest the same.
    context = multiprocessing.get_context('spawn')
    jobs = [context.Process(target=_work, args=(
        condensed, storage, study_name, n_trials, sampler, seed + i, K,
        recipe, tuple(tune))) for i in range(workers)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    if any(job.exitcode != 0 for job in jobs):
        raise RuntimeError(f"A search worker failed (exit codes "
                           f"{[job.exitcode for job in jobs]})")
    return create_study(storage, study_name, sampler, seed)


def _completed_trials(study) -> list:
    optuna = _optuna()
    return study.get_trials(deepcopy=False,
                            states=(optuna.trial.TrialState.COMPLETE, ))


def _merit(trial):
    """Higher validation accuracy first, then lower validation loss."""
    return trial.value, -trial.user_attrs.get('val_loss', 0.0)


def best_trial(study):
    """The completed trial with the highest validation accuracy, ties
    broken by the lower validation loss."""
    trials = _completed_trials(study)
    if not trials:
        raise ValueError("The study has no completed trial")
    return max(trials, key=_merit)


def incumbent_trace(entries: Sequence, merit: Callable,
                    seconds: Callable, test_accuracy: Callable
                    ) -> List[Dict]:
    """A search as its user lives it, for any search (filters, GraphNAS):
    per entry, in the order given, ``seconds(entry)`` and the test
    accuracy of the incumbent (the entry of highest ``merit`` so far).
    ``test_accuracy`` is called once per change of incumbent, not per
    entry. ``incumbent`` is the incumbent's position in ``entries``."""
    rows: List[Dict] = []
    incumbent, accuracy = None, None
    for i, entry in enumerate(entries):
        if incumbent is None or merit(entry) > merit(entries[incumbent]):
            incumbent, accuracy = i, test_accuracy(entry)
        rows.append({'seconds': seconds(entry), 'incumbent': incumbent,
                     'incumbent_test_acc': accuracy})
    return rows


def trace(study, original: Data, K: int = 2,
          recipe: Optional[Recipe] = None, seed: int = 0) -> List[Dict]:
    """:func:`incumbent_trace` of a study: per completed trial, in the
    order they finished, its number, validation accuracy, the seconds since
    the first trial started and the original-graph test accuracy of the
    incumbent (the best trial so far, as :func:`best_trial` picks),
    retrained once on ``original`` (seed ``seed``)."""
    trials = sorted(_completed_trials(study),
                    key=lambda t: t.datetime_complete)
    if not trials:
        raise ValueError("The study has no completed trial")
    start = min(t.datetime_start for t in trials)
    rows = incumbent_trace(
        trials, _merit,
        lambda t: (t.datetime_complete - start).total_seconds(),
        lambda t: retrain(t.params, original, (seed, ), K,
                          recipe)['test_acc'])
    for row, t in zip(rows, trials):
        row.update(trial=t.number, val_acc=t.value,
                   incumbent=trials[row['incumbent']].number)
    return rows


def retrain(params: Dict, original: Data, seeds: Sequence[int] = (0, 1, 2),
            K: int = 2, recipe: Optional[Recipe] = None) -> Dict:
    """Trains the setting ``params`` (a trial's parameters) on the original
    graph once per seed and returns its test accuracy (mean and per seed),
    the number a user of the search cares about."""
    recipe = recipe or Recipe()
    check_graph(original, masks=('train_mask', 'val_mask', 'test_mask'))
    coeffs, trial_recipe = _params_to_trial(params, K, recipe)
    per_seed: List[float] = []
    for seed in seeds:
        result = evaluate_configs(original, coeffs, dataclasses.replace(
            trial_recipe, seeds=(seed, )))
        per_seed.append(float(result['test_acc'][0]))
    return {'coeffs': coeffs[0].tolist(),
            'test_acc': sum(per_seed) / len(per_seed),
            'test_acc_per_seed': per_seed, 'seeds': list(seeds)}


__all__ = ['filter_objective', 'create_study', 'search', 'best_trial',
           'trace', 'incumbent_trace', 'retrain', 'storage_from_url', 'TUNABLE']
