/* nnc's C API: compile a model, run it in a session, read and write its
 * params and states by name, save and load checkpoints. For C programs and
 * for every language's FFI (nnc's Python module is ctypes over it).
 *
 *   nnc_model *model;
 *   if (nnc_compile_file("xor.ir", NULL, &model) != NNC_OK) {
 *     fprintf(stderr, "%s\n", nnc_last_error());   // file:line:col: error: ...
 *     return 1;
 *   }
 *   nnc_session *session;
 *   nnc_session_create(model, &session);
 *   int64_t shape[2] = {4, 2};
 *   nnc_tensor inputs[2] = {{"x", NNC_F32, 2, shape, x}, {"y", NNC_F32, 2, shape, y}};
 *   float loss;
 *   nnc_train_step(session, inputs, 2, &loss);
 *   nnc_infer(session, inputs, 1);
 *   nnc_tensor out;
 *   nnc_output(session, 0, &out);                   // out.data: the session's memory
 *   nnc_session_free(session);
 *   nnc_model_free(model);
 *
 * Errors. Every call returns an nnc_status; none aborts on bad input (null
 * pointers, unknown names, wrong dtypes or shapes, unreadable files, a
 * label out of range). After a failed call, nnc_last_error() gives the
 * calling thread's message, located as the `nnc` command prints it.
 *
 * Threads. A compiled model (nnc_model) is immutable: sessions may be
 * created from it, and used, on any threads at once. A session (its params,
 * states and workspace) serves one thread at a time; calls on one session
 * from two threads at once must be serialized by the caller. Each call runs
 * on the model's threads (nnc_options.threads), from a pool shared by every
 * model of the process; results are the same bits for any thread count.
 *
 * Modes. nnc_train_step runs batch norm and dropout in training mode,
 * nnc_infer in inference mode (IR.md section 3).
 *
 * The ABI is C99's: new calls and new enum values may be added; nothing is
 * removed or changed. nnc_options begins with its size, so it may grow.
 */
#ifndef NNC_NNC_H
#define NNC_NNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NNC_API __attribute__((visibility("default")))

/* The highest rank nnc_tensor_info describes. */
#define NNC_MAX_RANK 8

typedef enum nnc_status {
  NNC_OK = 0,
  NNC_INVALID_ARGUMENT = 1, /* a null pointer, a negative extent, a bad option */
  NNC_MODEL_ERROR = 2,      /* the model does not parse, check or compile */
  NNC_NOT_FOUND = 3,        /* no input, output, param or state of that name or index */
  NNC_SHAPE_ERROR = 4,      /* a dtype, shape or buffer size that does not match */
  NNC_IO_ERROR = 5,         /* a file that cannot be read or written, or is not a
                               checkpoint of this model */
  NNC_RUNTIME_ERROR = 6,    /* the compiled code refused: a label or index out of range,
                               a size limit */
  NNC_UNSUPPORTED = 7       /* a model without a training step; a CPU the code cannot run on */
} nnc_status;

typedef enum nnc_dtype { NNC_F32 = 0, NNC_I32 = 1 } nnc_dtype;

/* What a named value of a model is. */
typedef enum nnc_kind { NNC_INPUT = 0, NNC_OUTPUT = 1, NNC_PARAM = 2, NNC_STATE = 3 } nnc_kind;

typedef struct nnc_model nnc_model;
typedef struct nnc_session nnc_session;

/* How to compile. Start from NNC_OPTIONS_INIT; NULL means the defaults. */
typedef struct nnc_options {
  size_t size;            /* sizeof(nnc_options), as NNC_OPTIONS_INIT sets it */
  int threads;            /* threads the model runs on: 0 one per core (default), 1 the caller */
  int use_cache;          /* 1: reuse and store compiled code in the disk cache (default) */
  const char *target_cpu; /* an LLVM CPU name ("x86-64-v3"); NULL or "" for the host */
  int split_step;         /* 1: also the training step cut at the gradients (below) */
  int reserved;           /* 0; where the struct of nnc 0.1.0 ended (its padding) */
  int precision;          /* of matmul and conv2d operands: NNC_PRECISION_F32 (default),
                             _BF16 (sums and all else f32; needs AVX512_BF16) or _AUTO
                             (bf16 where the target CPU has it) */
} nnc_options;

enum { NNC_PRECISION_F32 = 0, NNC_PRECISION_BF16 = 1, NNC_PRECISION_AUTO = 2 };

#define NNC_OPTIONS_INIT {sizeof(nnc_options), 0, 1, NULL, 0, 0, NNC_PRECISION_F32}

/* A tensor passed to or returned by a session: C order, dense. Inputs are
 * read in place (not copied) during the call. */
typedef struct nnc_tensor {
  const char *name; /* the model's name for it */
  nnc_dtype dtype;
  int32_t rank;
  const int64_t *shape; /* rank extents */
  const void *data;     /* rank 0: one element; may be NULL when an extent is 0 */
} nnc_tensor;

/* What the model declares for one value. A symbolic dim (`dim B`) has
 * shape[i] = -1 and its name in dim_names[i] (NULL for a static extent). */
typedef struct nnc_tensor_info {
  const char *name;
  nnc_kind kind;
  nnc_dtype dtype;
  int32_t rank;
  int64_t shape[NNC_MAX_RANK];
  const char *dim_names[NNC_MAX_RANK];
} nnc_tensor_info;

/* nnc's version, "MAJOR.MINOR.PATCH". */
NNC_API const char *nnc_version(void);

/* The message of the calling thread's last failed call ("" before any):
 * every error, located (file:line:col: error: ..., the source line and a
 * caret), one per line. Valid until this thread's next call. */
NNC_API const char *nnc_last_error(void);

/* Parses, checks and JIT-compiles a model file (`.ir`, or `.onnx`). A
 * model with `minimize` gets its training step too. */
NNC_API nnc_status nnc_compile_file(const char *path, const nnc_options *options,
                                    nnc_model **model);
/* The same for model text; `name` is the file name diagnostics give (NULL:
 * "<text>"). Files its initializers name are read relative to the current
 * folder. */
NNC_API nnc_status nnc_compile_text(const char *text, const char *name, const nnc_options *options,
                                    nnc_model **model);
/* Frees a model (NULL is fine). Its sessions keep what they need and may
 * outlive it; strings nnc_model_info gave go with it. */
NNC_API void nnc_model_free(nnc_model *model);

/* The model's name; 1 when it has a training step, else 0 (0 for NULL). */
NNC_API const char *nnc_model_name(const nnc_model *model);
NNC_API int nnc_model_can_train(const nnc_model *model);

/* Its inputs, outputs, params or states, in declaration order: how many,
 * and what the index-th one is. The info's strings live as long as the
 * model. */
NNC_API size_t nnc_model_count(const nnc_model *model, nnc_kind kind);
NNC_API nnc_status nnc_model_info(const nnc_model *model, nnc_kind kind, size_t index,
                                  nnc_tensor_info *info);
/* Any of them by name. */
NNC_API nnc_status nnc_model_find(const nnc_model *model, const char *name, nnc_tensor_info *info);

/* A session: the model's params and states, initialized as the model says,
 * and a workspace that grows to the largest call. */
NNC_API nnc_status nnc_session_create(const nnc_model *model, nnc_session **session);
NNC_API void nnc_session_free(nnc_session *session);

/* Runs inference (inference mode) on the named inputs (those the outputs
 * need; others are ignored). The outputs stay in the session until its
 * next call: nnc_output reads them. */
NNC_API nnc_status nnc_infer(nnc_session *session, const nnc_tensor *inputs, size_t count);
/* The index-th output of the last nnc_infer (its data is the session's,
 * valid until the session's next call). */
NNC_API nnc_status nnc_output(const nnc_session *session, size_t index, nnc_tensor *output);

/* One training step (forward, backward, optimizer update) on the named
 * inputs; the loss before the update goes to *loss (may be NULL). */
NNC_API nnc_status nnc_train_step(nnc_session *session, const nnc_tensor *inputs, size_t count,
                                  float *loss);

/* The training step cut at the gradients (a model compiled with
 * nnc_options.split_step and `minimize`), for data-parallel training with
 * a communicator of your own (IR.md section 6): nnc_compute_gradients runs
 * the forward and backward passes and writes every trained param's
 * gradient into `gradients` (nnc_gradients_size bytes, each param's at
 * nnc_gradient_offset), calling ready(ready_ctx, i) on the calling thread
 * as soon as the i-th is final (ready may be NULL); after you have combined
 * them (summed across processes, each scaled by its share of the batch),
 * nnc_apply_gradients runs the optimizer's update. The two in turn on the
 * same gradients compute what nnc_train_step computes. */
NNC_API size_t nnc_gradients_size(const nnc_model *model); /* 0 without the split */
NNC_API int64_t nnc_gradient_offset(const nnc_model *model, const char *name); /* or -1 */
NNC_API nnc_status nnc_compute_gradients(nnc_session *session, const nnc_tensor *inputs,
                                         size_t count, float *gradients, float *loss,
                                         void (*ready)(void *ctx, int64_t i), void *ready_ctx);
NNC_API nnc_status nnc_apply_gradients(nnc_session *session, const float *gradients);

/* Copies a param or state out of, or into, the session; `bytes` must be
 * its size exactly (elements x 4). */
NNC_API nnc_status nnc_read(const nnc_session *session, const char *name, void *data, size_t bytes);
NNC_API nnc_status nnc_write(nnc_session *session, const char *name, const void *data,
                             size_t bytes);

/* Every param and state to a safetensors file, atomically (a crash leaves
 * the old file; a non-finite value writes nothing), and back: every param
 * must be in the file with its dtype and shape. */
NNC_API nnc_status nnc_save(const nnc_session *session, const char *path);
NNC_API nnc_status nnc_load(nnc_session *session, const char *path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NNC_NNC_H */
