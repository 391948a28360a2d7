/*
 * model-runtime plugin ABI, version 1.2.
 *
 * This header is the whole contract between the model-runtime host and a
 * backend plugin (a shared object loaded at run time). It is plain C99 and
 * usable from C and C++. A plugin needs nothing else from model-runtime.
 *
 * ---------------------------------------------------------------------------
 * Versioning (read this before changing anything here)
 * ---------------------------------------------------------------------------
 * MRT_ABI_VERSION_MAJOR changes on any incompatible change: a field removed,
 * reordered or retyped, a semantic change. MRT_ABI_VERSION_MINOR changes on
 * every compatible addition: a field appended to the END of a struct, a new
 * enum value, a new function pointer at the end of a table.
 *
 *  - Every table and every argument struct starts with `size_t struct_size`,
 *    set by whoever fills the struct to the size it knows
 *    (MRT_<NAME>_STRUCT_SIZE, computed from the last field of the version the
 *    filler was compiled against).
 *  - A reader checks `struct_size` before touching a field:
 *    MRT_FIELD_PRESENT(ptr, Type, field). A field past the end is absent and
 *    reads as NULL/0. Never compare struct_size (or MINOR) for equality.
 *  - The host accepts a plugin whose MAJOR equals its own, whatever its MINOR:
 *    an older plugin gives smaller tables, a newer plugin's extra fields are
 *    ignored. A plugin must likewise accept an older-MINOR host: it reads
 *    MRT_HostApi.struct_size before calling a function added after 1.0.
 *  - Shipped offsets are frozen by the static_asserts at the end of this file.
 *  - "Since" markers: every struct, table, field, function pointer, enum
 *    value and macro in this header is part of ABI 1.0 unless it carries a
 *    `since 1.N` marker; each 1.0 definition says `Since 1.0` in its opening
 *    comment. Anything added later gets `since 1.N` (N = the MINOR it came
 *    in) on the line that adds it, and the static_asserts below grow by one
 *    for each added field.
 *  - Any addition (field, function, enum value, struct, flag bit, macro with
 *    ABI meaning) is a MINOR bump: raise MRT_ABI_VERSION_MINOR and record it
 *    in abi/CHANGELOG.md under the new version. Anything else is a MAJOR
 *    bump. Comment-only changes bump nothing (changelog "Unreleased").
 *  - Extension pointer: a struct added after 1.0 declares, as the last field
 *    of its first version, `const void* next;` (NULL, or the head of a chain
 *    of extension structs that a later MINOR defines, each starting with
 *    `size_t struct_size`). Its offset is frozen like every shipped field;
 *    later fields are still appended after it. The 1.0 structs have no such
 *    field and grow by appending only.
 *  - tests/fixtures/abi-1.0/mrt/plugin.h is this header as 1.0 shipped; a
 *    fixture plugin built against it must keep loading and passing the
 *    conformance harness (test abi-1.0-plugin-conformance). Never edit it.
 *
 * ---------------------------------------------------------------------------
 * Rules every plugin follows
 * ---------------------------------------------------------------------------
 *  1. One exported symbol: MRT_PLUGIN_ENTRY_SYMBOL ("mrt_plugin_entry").
 *     Build with hidden visibility and the version script shipped beside this
 *     header (pkg-config --variable=version_script mrt-abi). Never link
 *     against host symbols; use the MRT_HostApi table instead.
 *  2. No C++ exception crosses this boundary: wrap every function in a
 *     catch-all and turn the exception into an MRT_Status.
 *  3. Errors are MRT_Status pointers created with MRT_HostApi.status_create;
 *     NULL means success. Statuses returned to the host are owned (and freed)
 *     by the host. On error, out-parameters are left untouched.
 *  4. Plugins never open paths. Model files are read or memory-mapped through
 *     MRT_HostApi.file_read / file_map on the MRT_ModelSource the host gives.
 *  5. Strings and arrays the plugin returns (info, tensor infos) stay valid
 *     for the lifetime stated on each field; the host copies what it keeps.
 *
 * Threading contract:
 *  - get_info, init, finalize are called once, from one thread, in order
 *    entry → init → ... → finalize; no other call overlaps init or finalize.
 *  - probe, model_load, model_unload and model_info may be called from any
 *    thread, concurrently, for different sources/models.
 *  - model_unload is never concurrent with any other call on the same model.
 *  - preprocess / execute / postprocess on ONE model are called concurrently
 *    only if the plugin sets MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE; otherwise the
 *    host serialises them per model. Calls on different models may always run
 *    concurrently.
 *  - Every MRT_HostApi function is thread-safe.
 *  - Thread budget: MRT_ModelLoadArgs.num_threads is the intra-op budget of
 *    each model; MRT_InitArgs.num_threads is only an upper bound hint for
 *    plugin-wide pools (see MRT_InitArgs).
 */
#ifndef MRT_PLUGIN_H_
#define MRT_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MRT_ABI_VERSION_MAJOR 1
#define MRT_ABI_VERSION_MINOR 2

/* Name of the single symbol a plugin exports; its type is MRT_PluginEntryFn. */
#define MRT_PLUGIN_ENTRY_SYMBOL "mrt_plugin_entry"

#if defined(_WIN32)
#define MRT_PLUGIN_EXPORT __declspec(dllexport)
#else
#define MRT_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* Size of a struct up to and including `last_field`. */
#define MRT_STRUCT_SIZE(type, last_field) \
  (offsetof(type, last_field) + sizeof(((type*)0)->last_field))

/* True when the struct at `ptr` (whose struct_size the filler set) contains
 * `field`. Use before reading any field added after the struct's first
 * version. */
#define MRT_FIELD_PRESENT(ptr, type, field) \
  ((ptr) != NULL && (ptr)->struct_size >= MRT_STRUCT_SIZE(type, field))

/* ======================================================================== */
/* Status                                                                   */
/* ======================================================================== */

/* Canonical codes (the values of abseil's absl::StatusCode, fixed forever).
 * Since 1.0. */
typedef enum MRT_StatusCode {
  MRT_CODE_OK = 0,
  MRT_CODE_CANCELLED = 1,
  MRT_CODE_UNKNOWN = 2,
  MRT_CODE_INVALID_ARGUMENT = 3,
  MRT_CODE_DEADLINE_EXCEEDED = 4,
  MRT_CODE_NOT_FOUND = 5,
  MRT_CODE_ALREADY_EXISTS = 6,
  MRT_CODE_PERMISSION_DENIED = 7,
  MRT_CODE_RESOURCE_EXHAUSTED = 8,
  MRT_CODE_FAILED_PRECONDITION = 9,
  MRT_CODE_ABORTED = 10,
  MRT_CODE_OUT_OF_RANGE = 11,
  MRT_CODE_UNIMPLEMENTED = 12,
  MRT_CODE_INTERNAL = 13,
  MRT_CODE_UNAVAILABLE = 14,
  MRT_CODE_DATA_LOSS = 15,
  MRT_CODE_UNAUTHENTICATED = 16
} MRT_StatusCode;

/* Opaque error object. NULL means success. Created by
 * MRT_HostApi.status_create; a status a plugin returns from any operation is
 * owned by the host from then on. A status the host returns to the plugin
 * (from a host service) is owned by the plugin, which either returns it
 * onwards or frees it with MRT_HostApi.status_free. Since 1.0. */
typedef struct MRT_Status MRT_Status;

/* ======================================================================== */
/* Tensors                                                                  */
/* ======================================================================== */

/* Element types. Values equal ONNX TensorProto.DataType, fixed forever.
 * Since 1.0. */
typedef enum MRT_DType {
  MRT_DTYPE_UNDEFINED = 0,
  MRT_DTYPE_FLOAT32 = 1,
  MRT_DTYPE_UINT8 = 2,
  MRT_DTYPE_INT8 = 3,
  MRT_DTYPE_UINT16 = 4,
  MRT_DTYPE_INT16 = 5,
  MRT_DTYPE_INT32 = 6,
  MRT_DTYPE_INT64 = 7,
  MRT_DTYPE_BOOL = 9,
  MRT_DTYPE_FLOAT16 = 10,
  MRT_DTYPE_FLOAT64 = 11,
  MRT_DTYPE_UINT32 = 12,
  MRT_DTYPE_UINT64 = 13,
  MRT_DTYPE_BFLOAT16 = 16
} MRT_DType;

/* Since 1.0. */
typedef enum MRT_DeviceKind {
  MRT_DEVICE_CPU = 0,
  MRT_DEVICE_GPU = 1
} MRT_DeviceKind;

/* Most dims a tensor may have. Since 1.0. */
#define MRT_MAX_RANK 8

/* A tensor view. Nothing here is owned by the struct: `name`, `dims` and
 * `data` belong to whoever passed the struct and stay valid for the duration
 * of the call it was passed to (unless the call documents otherwise).
 * Since 1.0, every field. */
typedef struct MRT_Tensor {
  size_t struct_size;      /* MRT_TENSOR_STRUCT_SIZE */
  const char* name;        /* NUL-terminated UTF-8; may be NULL for unnamed */
  int32_t dtype;           /* MRT_DType */
  int32_t rank;            /* 0..MRT_MAX_RANK */
  const int64_t* dims;     /* rank entries, each >= 0 */
  const void* data;        /* dense row-major elements */
  uint64_t byte_size;      /* product(dims) * element size */
  int32_t device_kind;     /* MRT_DeviceKind where `data` lives */
  int32_t device_id;       /* index among devices of that kind */
} MRT_Tensor;
#define MRT_TENSOR_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_Tensor, device_id)

/* Static description of a model input or output. dims of -1 are dynamic
 * (batch, sequence). Returned by the plugin; `name` and `dims` stay valid
 * until model_unload of the model that returned them. Since 1.0, every
 * field. */
typedef struct MRT_TensorInfo {
  size_t struct_size;      /* MRT_TENSOR_INFO_STRUCT_SIZE */
  const char* name;
  int32_t dtype;           /* MRT_DType */
  int32_t rank;            /* -1 when even the rank is unknown */
  const int64_t* dims;     /* rank entries; -1 = dynamic */
} MRT_TensorInfo;
#define MRT_TENSOR_INFO_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_TensorInfo, dims)

/* ======================================================================== */
/* Opaque host objects                                                      */
/* ======================================================================== */

/* A model's files as the host's vfs sees them: a directory (or a single
 * file) the plugin may read through file_read / file_map with paths relative
 * to it. Owned by the host; valid for the duration of the probe or
 * model_load call it is passed to. Do not keep it. Since 1.0. */
typedef struct MRT_ModelSource MRT_ModelSource;

/* Bytes of one file, read or memory-mapped by the host. Owned by the plugin
 * once returned: release with MRT_HostApi.blob_release (any thread). Remains
 * valid after the MRT_ModelSource it came from is gone, so a plugin may keep
 * mapped weights for the life of a model. Since 1.0. */
typedef struct MRT_Blob MRT_Blob;
/* A model file opened for reads at offsets (MRT_HostApi.file_open), since 1.2. */
typedef struct MRT_File MRT_File;

/* One inference call in flight: used to poll cancellation and deadline and
 * to emit partial (streamed) results. Owned by the host; valid for the
 * duration of the preprocess/execute/postprocess call it is passed to.
 * Since 1.0. */
typedef struct MRT_CallContext MRT_CallContext;

/* Where a stage puts what it produces (tensors, classes, text). Owned by the
 * host; valid for the duration of the call it is passed to. Buffers it hands
 * out belong to the host. Since 1.0. */
typedef struct MRT_Results MRT_Results;

/* Plugin-defined objects, opaque to the host. Since 1.0. */
typedef struct MRT_PluginContext MRT_PluginContext; /* from init */
typedef struct MRT_Model MRT_Model;                 /* from model_load */

/* ======================================================================== */
/* Requests                                                                 */
/* ======================================================================== */

/* Since 1.0. */
typedef enum MRT_PayloadKind {
  MRT_PAYLOAD_TENSORS = 1, /* named input tensors */
  MRT_PAYLOAD_IMAGE = 2,   /* an encoded image (PNG, JPEG, ...) */
  MRT_PAYLOAD_TEXT = 3     /* a prompt with generation parameters */
} MRT_PayloadKind;

/* Sampling parameters for text generation. Fields of 0 mean "model default"
 * except where noted. Since 1.0, every field. */
typedef struct MRT_GenerationParams {
  size_t struct_size;          /* MRT_GENERATION_PARAMS_STRUCT_SIZE */
  int32_t max_tokens;          /* 0 = plugin default */
  float temperature;           /* 0 = greedy */
  float top_p;                 /* 0 or 1 = disabled */
  int32_t top_k;               /* 0 = disabled */
  uint64_t seed;               /* used when has_seed != 0 */
  int32_t has_seed;
  const char* const* stop;     /* num_stop NUL-terminated strings */
  size_t num_stop;
} MRT_GenerationParams;
#define MRT_GENERATION_PARAMS_STRUCT_SIZE \
  MRT_STRUCT_SIZE(MRT_GenerationParams, num_stop)

/* What the client asked for. Everything is owned by the host and valid for
 * the duration of the call it is passed to. Only the members of `kind` are
 * meaningful. Since 1.0, every field. */
typedef struct MRT_Request {
  size_t struct_size;                 /* MRT_REQUEST_STRUCT_SIZE */
  int32_t kind;                       /* MRT_PayloadKind */
  const MRT_Tensor* tensors;          /* TENSORS: num_tensors entries */
  size_t num_tensors;
  const void* image_data;             /* IMAGE: encoded bytes */
  uint64_t image_size;
  const char* text;                   /* TEXT: UTF-8 prompt, NUL-terminated */
  const MRT_GenerationParams* generation; /* TEXT: may be NULL = defaults */
  int32_t top_k;                      /* classification: 0 = manifest's */
} MRT_Request;
#define MRT_REQUEST_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_Request, top_k)

/* Arguments of preprocess / execute / postprocess. Since 1.0, every field. */
typedef struct MRT_StageArgs {
  size_t struct_size;             /* MRT_STAGE_ARGS_STRUCT_SIZE */
  const MRT_Request* request;     /* the original request, never NULL */
  const MRT_Tensor* tensors;      /* the previous stage's tensors:
                                     execute: model inputs (after
                                     preprocessing); postprocess: the model
                                     outputs. Host-owned, call duration. */
  size_t num_tensors;
  MRT_CallContext* call;          /* cancellation, deadline, streaming */
  MRT_Results* results;           /* where this stage writes its output */
} MRT_StageArgs;
#define MRT_STAGE_ARGS_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_StageArgs, results)

/* ======================================================================== */
/* Host services (filled by the host, read by the plugin)                   */
/* ======================================================================== */

/* Since 1.0. */
typedef enum MRT_LogLevel {
  MRT_LOG_DEBUG = 0,
  MRT_LOG_INFO = 1,
  MRT_LOG_WARNING = 2,
  MRT_LOG_ERROR = 3
} MRT_LogLevel;

/* Finish reasons for text generation results. Since 1.0. */
typedef enum MRT_FinishReason {
  MRT_FINISH_NONE = 0,
  MRT_FINISH_EOS = 1,        /* the model emitted end-of-sequence */
  MRT_FINISH_LENGTH = 2,     /* max_tokens reached */
  MRT_FINISH_STOP = 3        /* a stop string matched */
} MRT_FinishReason;

/* The host's services. Since 1.0, every field and function below (1.0's
 * last entry is results_set_text; later ones carry `since 1.N`). */
typedef struct MRT_HostApi {
  size_t struct_size;   /* MRT_HOST_API_STRUCT_SIZE of the host's version */
  uint32_t abi_major;   /* host's MRT_ABI_VERSION_MAJOR */
  uint32_t abi_minor;   /* host's MRT_ABI_VERSION_MINOR */

  /* --- statuses ---------------------------------------------------------
   * status_create: a new status with `code` (not MRT_CODE_OK) and a copy of
   * `message` (UTF-8, may be NULL). Never returns NULL for an error code.
   * status_code / status_message: read a status; the message stays valid
   * until the status is freed. status_free: free a status the plugin owns
   * (NULL is a no-op). */
  MRT_Status* (*status_create)(MRT_StatusCode code, const char* message);
  MRT_StatusCode (*status_code)(const MRT_Status* status);
  const char* (*status_message)(const MRT_Status* status);
  void (*status_free)(MRT_Status* status);

  /* --- logging -----------------------------------------------------------
   * One line, attributed to the plugin by the host. `message` is copied. */
  void (*log)(MRT_LogLevel level, const char* message);

  /* --- memory --------------------------------------------------------------
   * alloc: `size` bytes aligned to `alignment` (a power of two, <= 4096;
   * 0 = 64), or NULL when the memory cannot be had. free: release
   * memory from alloc (NULL is a no-op). */
  void* (*alloc)(size_t size, size_t alignment);
  void (*free)(void* ptr);

  /* --- files through the vfs ---------------------------------------------
   * `path` is relative to the model source ("model.onnx",
   * "weights/part-0.bin"); absolute paths and ".." are refused with
   * PERMISSION_DENIED, a missing file is NOT_FOUND. file_read copies the
   * whole file into memory; file_map memory-maps it read-only (the host may
   * fall back to reading). On success *out is a blob the plugin owns.
   * file_size: the size in bytes without reading. */
  MRT_Status* (*file_read)(const MRT_ModelSource* source, const char* path,
                           MRT_Blob** out);
  MRT_Status* (*file_map)(const MRT_ModelSource* source, const char* path,
                          MRT_Blob** out);
  MRT_Status* (*file_size)(const MRT_ModelSource* source, const char* path,
                           uint64_t* out_size);
  /* The file the manifest names first (or the bare model file): the path to
   * pass to file_read for a single-file format. Valid with `source`. */
  const char* (*source_primary_file)(const MRT_ModelSource* source);
  const void* (*blob_data)(const MRT_Blob* blob);
  uint64_t (*blob_size)(const MRT_Blob* blob);
  void (*blob_release)(MRT_Blob* blob);

  /* --- calls: cancellation, deadline, streaming ---------------------------
   * call_is_cancelled: non-zero once the client cancelled or the deadline
   * passed; long-running plugins poll it between layers or tokens and return
   * MRT_CODE_CANCELLED / MRT_CODE_DEADLINE_EXCEEDED (call_cancel_status gives
   * a ready status with the right code). call_deadline_remaining_us:
   * microseconds left, or INT64_MAX without a deadline.
   * call_emit_text: stream a chunk of generated text to the client (copied);
   * returns a status when the client is gone (stop generating). */
  int32_t (*call_is_cancelled)(const MRT_CallContext* call);
  int64_t (*call_deadline_remaining_us)(const MRT_CallContext* call);
  MRT_Status* (*call_cancel_status)(const MRT_CallContext* call);
  MRT_Status* (*call_emit_text)(MRT_CallContext* call, const char* utf8,
                                size_t length);

  /* --- results --------------------------------------------------------------
   * results_add_tensor: append an output tensor of `dtype` and `dims`
   * (copied); on success *out_data points to a zeroed, 64-byte aligned,
   * host-owned buffer of product(dims) * element size bytes the plugin fills
   * before returning from the stage. Names must be unique in one results.
   * results_add_class: append one classification entry (label copied; may
   * be NULL) for batch item `batch_index`.
   * results_set_text: the final generated text (copied), with token counts
   * and the reason generation stopped. */
  MRT_Status* (*results_add_tensor)(MRT_Results* results, const char* name,
                                    int32_t dtype, int32_t rank,
                                    const int64_t* dims, void** out_data);
  MRT_Status* (*results_add_class)(MRT_Results* results, int32_t batch_index,
                                   int32_t class_index, float score,
                                   const char* label);
  MRT_Status* (*results_set_text)(MRT_Results* results, const char* utf8,
                                  size_t length, int32_t prompt_tokens,
                                  int32_t generated_tokens,
                                  int32_t finish_reason);

  /* --- files read at offsets (since 1.2) -----------------------------------
   * file_open: opens `path` (relative to the source, refused and reported
   * as file_read does) for reads at offsets, without reading or copying it;
   * *out_size is its size. file_read_at: `size` bytes from `offset` into
   * `dst`; a range past the size file_open gave is OUT_OF_RANGE, and a
   * file that ends early (shrunk since the open) is DATA_LOSS naming it,
   * never a signal. file_close: NULL is a no-op. An MRT_File is valid until
   * closed and must be closed before the load or probe call that opened it
   * returns. For a loader that copies what it needs out of a large file
   * (the weights of an ONNX model): the bytes go from the file straight into
   * the plugin's own buffers, with no copy of the whole file beside them.
   * Check MRT_FIELD_PRESENT(host, MRT_HostApi, file_close) first: a 1.1
   * host has none of the three. */
  MRT_Status* (*file_open)(const MRT_ModelSource* source, const char* path, MRT_File** out,
                           uint64_t* out_size);                                         /* since 1.2 */
  MRT_Status* (*file_read_at)(MRT_File* file, uint64_t offset, void* dst, size_t size); /* since 1.2 */
  void (*file_close)(MRT_File* file);                                                   /* since 1.2 */
} MRT_HostApi;
#define MRT_HOST_API_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_HostApi, file_close)

/* ======================================================================== */
/* Plugin operations (filled by the plugin, read by the host)               */
/* ======================================================================== */

/* MRT_PluginInfo.flags. Since 1.0. */
#define MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE ((uint64_t)1 << 0)

/* Static description of the plugin. Every pointer stays valid until the
 * plugin is unloaded (string literals and static arrays are the norm).
 * Since 1.0, every field. */
typedef struct MRT_PluginInfo {
  size_t struct_size;              /* MRT_PLUGIN_INFO_STRUCT_SIZE */
  const char* name;                /* unique, [a-z0-9_-]+, e.g. "onednn" */
  const char* vendor;
  const char* version;             /* semantic version "MAJOR.MINOR.PATCH" */
  const char* const* formats;      /* e.g. {"onnx"}; lowercase */
  size_t num_formats;
  const int32_t* device_kinds;     /* MRT_DeviceKind values */
  size_t num_device_kinds;
  uint64_t flags;                  /* MRT_PLUGIN_FLAG_* */
} MRT_PluginInfo;
#define MRT_PLUGIN_INFO_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_PluginInfo, flags)

/* Arguments of init. Since 1.0, every field.
 *
 * Threads: the one thread budget a plugin honours is per model,
 * MRT_ModelLoadArgs.num_threads. MRT_InitArgs.num_threads is only a
 * plugin-wide upper bound, given as a hint: no model_load will ask for
 * more threads than this, so a plugin that keeps one thread pool for all
 * its models may size that pool to it. It is NOT an extra budget on top of
 * the per-model one, and a plugin may ignore it (every plugin in this
 * repository does). */
typedef struct MRT_InitArgs {
  size_t struct_size;              /* MRT_INIT_ARGS_STRUCT_SIZE */
  int32_t num_threads;             /* hint, >= 1: the most threads any
                                      model_load will ask for (see above) */
} MRT_InitArgs;
#define MRT_INIT_ARGS_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_InitArgs, num_threads)

/* A key/value option from the model manifest's `options:` map (plugin
 * specific, e.g. {"precision", "fp16"}). Host-owned, call duration.
 * Since 1.0, every field. */
typedef struct MRT_Option {
  size_t struct_size;              /* MRT_OPTION_STRUCT_SIZE */
  const char* key;
  const char* value;
} MRT_Option;
#define MRT_OPTION_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_Option, value)

/* Arguments of model_load. Since 1.0, every field. */
typedef struct MRT_ModelLoadArgs {
  size_t struct_size;              /* MRT_MODEL_LOAD_ARGS_STRUCT_SIZE */
  const MRT_ModelSource* source;   /* call duration */
  const char* format;              /* the manifest's format, lowercase */
  int32_t device_kind;             /* where to place the model */
  int32_t device_id;
  int32_t num_threads;             /* >= 1: THE intra-op thread budget of
                                      this model: the most threads one
                                      preprocess/execute/postprocess call on
                                      it may keep busy at once. The host
                                      runs calls on different models (and,
                                      with CONCURRENT_EXECUTE, on one model)
                                      side by side and budgets for that. */
  const MRT_Option* options;       /* num_options entries */
  size_t num_options;
} MRT_ModelLoadArgs;
#define MRT_MODEL_LOAD_ARGS_STRUCT_SIZE \
  MRT_STRUCT_SIZE(MRT_ModelLoadArgs, num_options)

/* Filled by model_info. Since 1.0, every field. */
typedef struct MRT_ModelInfo {
  size_t struct_size;              /* set by the host before the call */
  size_t num_inputs;               /* out */
  size_t num_outputs;              /* out */
  uint64_t host_bytes;             /* out: resident host memory of the model
                                      (the cache evicts by it; the
                                      conformance harness checks it against
                                      the memory the load really added) */
  uint64_t device_bytes;           /* out: device memory of the model */
  int32_t max_sequences;           /* out, since 1.1: > 1 when concurrent
                                      execute calls on this model are
                                      batched by the plugin (continuous
                                      batching: they share each decode
                                      step). The host may then keep up to
                                      this many calls on the model in
                                      flight at once, outside its worker
                                      pool, since each mostly waits on the
                                      plugin's shared step. Requires
                                      MRT_PLUGIN_FLAG_CONCURRENT_EXECUTE.
                                      0 or 1: no batching. */
  const char* chat_template;       /* out, since 1.1: the model's chat
                                      template (Jinja source, as in
                                      tokenizer_config.json or GGUF's
                                      tokenizer.chat_template), or NULL.
                                      Plugin-owned, valid until
                                      model_unload; the host copies it. */
  const char* bos_token;           /* out, since 1.1: the text of the BOS */
  const char* eos_token;           /* out, since 1.1: and EOS tokens, which
                                      chat templates read as bos_token and
                                      eos_token; NULL when none. Lifetime
                                      as chat_template's. */
} MRT_ModelInfo;
#define MRT_MODEL_INFO_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_ModelInfo, eos_token)

/* The plugin's operations. Since 1.0, every field and function below
 * (1.0's last entry is postprocess; later ones carry `since 1.N`). */
typedef struct MRT_PluginApi {
  size_t struct_size;   /* MRT_PLUGIN_API_STRUCT_SIZE of the plugin's version */
  uint32_t abi_major;   /* plugin's MRT_ABI_VERSION_MAJOR */
  uint32_t abi_minor;   /* plugin's MRT_ABI_VERSION_MINOR */

  /* Static info; `out` is filled by the plugin (host sets struct_size).
   * Required. */
  void (*get_info)(MRT_PluginInfo* out);

  /* Once after the entry point, before any other call. On success *out is
   * the plugin's context (may be NULL), passed to every later call and
   * released by finalize. An error refuses the plugin. Required. */
  MRT_Status* (*init)(const MRT_InitArgs* args, MRT_PluginContext** out);
  /* Last call; after every model is unloaded. Required. */
  void (*finalize)(MRT_PluginContext* ctx);

  /* Devices of `device_kind` this plugin can use now (0 = none: a GPU
   * plugin on a machine without a GPU or driver). Optional: NULL means one
   * device of each kind in info.device_kinds. */
  int32_t (*device_count)(MRT_PluginContext* ctx, int32_t device_kind);

  /* How well this plugin handles the model at `source` for `format`:
   * 0 = cannot, 1..100 = can (higher wins). Must be cheap (read a header) and
   * must not fail: unreadable input scores 0. Required. */
  int32_t (*probe)(MRT_PluginContext* ctx, const MRT_ModelSource* source,
                   const char* format);

  /* Load a model. On success *out is the plugin's model, released by
   * model_unload. Files are read/mapped through the host in this call;
   * blobs may be kept. Required. */
  MRT_Status* (*model_load)(MRT_PluginContext* ctx,
                            const MRT_ModelLoadArgs* args, MRT_Model** out);
  /* Release a model. Never concurrent with any call on that model. */
  void (*model_unload)(MRT_PluginContext* ctx, MRT_Model* model);

  /* Sizes and counts (two-call query with model_io). Required. */
  MRT_Status* (*model_info)(MRT_PluginContext* ctx, const MRT_Model* model,
                            MRT_ModelInfo* out);
  /* Describe input (is_output == 0) or output `index`. `out` is filled; its
   * pointers stay valid until model_unload. Required. */
  MRT_Status* (*model_io)(MRT_PluginContext* ctx, const MRT_Model* model,
                          int32_t is_output, size_t index,
                          MRT_TensorInfo* out);

  /* Request → model input tensors (e.g. decode an image, tokenize text),
   * written with results_add_tensor. Optional: NULL = the host's standard
   * stages (tensor pass-through; image stages from the manifest). */
  MRT_Status* (*preprocess)(MRT_PluginContext* ctx, MRT_Model* model,
                            const MRT_StageArgs* args);
  /* Run the model on args->tensors, writing output tensors (and, for text
   * generation, the final text) to args->results. Inputs of the wrong dtype,
   * rank or shape are refused with MRT_CODE_INVALID_ARGUMENT naming the
   * input. Required. */
  MRT_Status* (*execute)(MRT_PluginContext* ctx, MRT_Model* model,
                         const MRT_StageArgs* args);
  /* Model outputs → final result (classes, text). Optional: NULL = the
   * host's standard stages (pass-through; top-k with labels per manifest). */
  MRT_Status* (*postprocess)(MRT_PluginContext* ctx, MRT_Model* model,
                             const MRT_StageArgs* args);
} MRT_PluginApi;
#define MRT_PLUGIN_API_STRUCT_SIZE MRT_STRUCT_SIZE(MRT_PluginApi, postprocess)

/* The entry point. Called once per load, before anything else, from one
 * thread. `host` stays valid until the plugin is unloaded. Return the
 * plugin's table (static storage; valid until unload), or NULL to refuse a
 * host it cannot work with (a different MAJOR, a host table too small).
 * Must not throw. Since 1.0. */
typedef const MRT_PluginApi* (*MRT_PluginEntryFn)(const MRT_HostApi* host,
                                                  uint32_t host_abi_major,
                                                  uint32_t host_abi_minor);

/* Helper for plugins: non-zero when a host of this version can be served by
 * a plugin compiled against this header. Since 1.0. */
static inline int mrt_host_is_compatible(const MRT_HostApi* host,
                                         uint32_t host_abi_major) {
  return host != NULL && host_abi_major == MRT_ABI_VERSION_MAJOR &&
         host->abi_major == MRT_ABI_VERSION_MAJOR &&
         host->struct_size >= MRT_STRUCT_SIZE(MRT_HostApi, results_set_text);
}

/* ======================================================================== */
/* Frozen layout of ABI 1.0 to 1.2 (x86-64 / AArch64 LP64). Never edit a line here;
 * append new fields and new asserts instead.                               */
/* ======================================================================== */
#if defined(__cplusplus)
#define MRT_STATIC_ASSERT static_assert
#else
#define MRT_STATIC_ASSERT _Static_assert
#endif
#if defined(__LP64__) || defined(_WIN64)
MRT_STATIC_ASSERT(offsetof(MRT_Tensor, dims) == 24, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_Tensor, device_id) == 52, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(sizeof(MRT_Tensor) == 56, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_TensorInfo, dims) == 24, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_GenerationParams, num_stop) == 48,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_Request, top_k) == 64, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_StageArgs, results) == 40, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_HostApi, status_create) == 16,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_HostApi, results_set_text) == 176,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_PluginInfo, flags) == 64, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_InitArgs, num_threads) == 8, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_ModelLoadArgs, num_options) == 48,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_ModelInfo, device_bytes) == 32,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_PluginApi, get_info) == 16, "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_PluginApi, postprocess) == 104,
                  "ABI 1.0 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_ModelInfo, max_sequences) == 40,
                  "ABI 1.1 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_ModelInfo, chat_template) == 48,
                  "ABI 1.1 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_ModelInfo, eos_token) == 64,
                  "ABI 1.1 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_HostApi, file_open) == 184, "ABI 1.2 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_HostApi, file_read_at) == 192, "ABI 1.2 frozen");
MRT_STATIC_ASSERT(offsetof(MRT_HostApi, file_close) == 200, "ABI 1.2 frozen");
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MRT_PLUGIN_H_ */
