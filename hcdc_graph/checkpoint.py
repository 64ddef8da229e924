"""Checkpoints for condensers that run for minutes (graph and image alike;
no graph code): the state at an epoch boundary, written atomically, read
back only by the same configuration on the same data."""
import json
import os
import tempfile
from typing import Dict, Optional

import torch


class Checkpointed:
    """A mixin for condensers with ``checkpoint`` (a file path or
    :obj:`None`) and ``_resume`` (set by ``fit(resume=...)``) attributes.
    Subclasses give :meth:`data_fingerprint`."""
    checkpoint: Optional[str] = None
    _resume: bool = False

    def data_fingerprint(self) -> str:
        raise NotImplementedError

    def _configuration(self) -> str:
        """What a checkpoint must match: the class, every option (tensor
        attributes, derived from the data and seed, functions, whose repr is
        an address, and the execution options ``device`` and ``compile``,
        which change results only at float rounding, left out) and the
        data's fingerprint."""
        options = {k: repr(v) for k, v in sorted(vars(self).items())
                   if not k.startswith('_') and not k.endswith('_') and
                   not isinstance(v, torch.Tensor) and
                   not (callable(v) and not isinstance(v, type)) and
                   k not in ('data', 'progress', 'device', 'checkpoint',
                             'compile')}
        return json.dumps([type(self).__name__, options,
                           self.data_fingerprint()])

    def save_state(self, state: Dict) -> None:
        """Writes ``state`` (tensors and plain containers) to the
        ``checkpoint`` file atomically: a unique temporary file in the same
        folder, then ``os.replace``, so a crash mid-write leaves the previous
        checkpoint intact. Does nothing without a ``checkpoint``."""
        if self.checkpoint is None:
            return
        folder = os.path.dirname(os.path.abspath(self.checkpoint))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix='.tmp')
        os.close(fd)
        try:
            torch.save({'configuration': self._configuration(), **state},
                       tmp)
            os.replace(tmp, self.checkpoint)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def resumed_state(self) -> Optional[Dict]:
        """The checkpoint's state when ``fit`` was called with
        ``resume=True`` and the file exists, else :obj:`None`; a checkpoint
        of another configuration or other data is an error."""
        if not self._resume or not os.path.exists(self.checkpoint):
            return None
        from hcdc_graph.io import safe_torch_load
        state = safe_torch_load(self.checkpoint, 'checkpoint')
        if not isinstance(state, dict) or \
                state.get('configuration') != self._configuration():
            raise ValueError(f"The checkpoint '{self.checkpoint}' was written "
                             f"by another configuration or data; delete it "
                             f"or pass another path")
        return state

    def start_fit(self, resume: bool) -> None:
        """Checks and records ``fit(resume=...)``."""
        if resume and self.checkpoint is None:
            raise ValueError("fit(resume=True) needs the 'checkpoint' file "
                             "to resume from")
        self._resume = resume

    def end_fit(self) -> None:
        """Removes the checkpoint once the fit is done."""
        if self.checkpoint is not None and os.path.exists(self.checkpoint):
            os.remove(self.checkpoint)


def random_state(generator: torch.Generator) -> Dict:
    """The random number generators a resumed run must continue from: the
    run's own ``generator`` and torch's global one (weight inits)."""
    return {'generator': generator.get_state(), 'rng': torch.get_rng_state()}


def restore_random_state(state: Dict, generator: torch.Generator) -> None:
    """Sets both generators back to a checkpoint's :func:`random_state`."""
    generator.set_state(state['generator'])
    torch.set_rng_state(state['rng'])
