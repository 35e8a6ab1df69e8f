// Limits shared by the readers, far above real models so that only hostile or broken files meet them. The
// largest real weight files have a few thousand tensors (SDXL all-in-one ~2.5k, FLUX full ~1.1k; the detection
// corpus peaks at 2,958) with names under 200 bytes (GGUF caps them at 64); a hostile header with a million
// tensors or megabyte names would otherwise cost seconds of CPU and a gigabyte of memory to parse.

/** Tensors in one weight file. */
export const MAX_TENSORS = 100_000;
/** Bytes of one tensor name (or metadata key). */
export const MAX_TENSOR_NAME_BYTES = 1024;
/** JSON values (commas) in one safetensors header: ~10 per tensor for shapes and offsets, with room for metadata. */
export const MAX_HEADER_VALUES = MAX_TENSORS * 16;
/** Nesting of a safetensors header: root { tensor { shape [ ] } } is 3 deep. */
export const MAX_HEADER_DEPTH = 8;
/** Entries in a safetensors `__metadata__` (kohya LoRAs have ~60). */
export const MAX_METADATA_ENTRIES = 10_000;
/** Characters of one metadata value kept in the facts (longer values, such as embedded thumbnails, are cut). */
export const MAX_METADATA_VALUE_CHARS = 64 * 1024;
