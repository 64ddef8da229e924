"""Peak resident memory of this process, resettable on Linux (elsewhere the
process-wide peak since start)."""
import ctypes
import gc
import resource
from typing import Optional


def reset_peak_rss() -> None:
    """Returns freed heap to the OS (so RSS counts live memory, not what the
    allocator kept), then resets the kernel's peak-RSS counter (VmHWM) to the
    current RSS."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except OSError:
        pass
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass


def _status_mb(field: str) -> Optional[float]:
    """A memory line of /proc/self/status (e.g. ``'VmHWM'``) in MB."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size since the last reset, in MB."""
    peak = _status_mb('VmHWM')
    if peak is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def rss_mb() -> float:
    """Current resident set size, in MB (NaN where /proc is missing)."""
    rss = _status_mb('VmRSS')
    return float('nan') if rss is None else rss
