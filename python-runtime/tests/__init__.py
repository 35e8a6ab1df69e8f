# The runtime's tests run as quietly as the worker does: no LOAD REPORT tables, tqdm bars or advisory warnings on a
# passing run (MGEN_DEBUG=1 shows them). Set before any test module imports torch, diffusers or transformers.
from mgen_runtime import quiet as _quiet

_quiet.early()
