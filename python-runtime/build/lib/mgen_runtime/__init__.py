"""mgen_runtime: the Python side of mgen (diffusers worker, load plans, call schema, tiny test models)."""

PROTOCOL_VERSION = 1
__version__ = "0.1.0"
