/* The C API (nnc/nnc.h) from a C program built with pkg-config against an
 * installed nnc (tests/install/run.sh): trains XOR, checks the numbers,
 * checkpoints, and every error class of bad input.
 * Usage: capi_test EXAMPLES_DIR SCRATCH_DIR */
#include <nnc/nnc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, #cond,      \
              nnc_last_error());                                                                   \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

/* A status, and that the last error's message contains `text`. */
#define CHECK_ERROR(call, status, text)                                                            \
  do {                                                                                             \
    nnc_status got_ = (call);                                                                      \
    if (got_ != (status) || !strstr(nnc_last_error(), (text))) {                                   \
      fprintf(stderr, "%s:%d: %s gave status %d (want %d), message '%s' (want '%s')\n", __FILE__,  \
              __LINE__, #call, (int)got_, (int)(status), nnc_last_error(), (text));                \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

static const float kX[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float kY[4] = {0, 1, 1, 0};
static const int64_t kShapeX[2] = {4, 2};
static const int64_t kShapeY[2] = {4, 1};

static void badModels(const char *examples) {
  nnc_model *model = (nnc_model *)1;
  CHECK_ERROR(nnc_compile_file(NULL, NULL, &model), NNC_INVALID_ARGUMENT, "path is null");
  CHECK_ERROR(nnc_compile_file("x.ir", NULL, NULL), NNC_INVALID_ARGUMENT, "model is null");
  CHECK_ERROR(nnc_compile_file("/nonexistent/m.ir", NULL, &model), NNC_MODEL_ERROR,
              "/nonexistent/m.ir");
  CHECK(model == NULL);
  /* A located error with the source line and a caret. */
  CHECK_ERROR(nnc_compile_text("model m {\n  input x: f32[2]\n  y = relu(z)\n  output y\n}\n",
                               "bad.ir", NULL, &model),
              NNC_MODEL_ERROR, "bad.ir:3:");
  CHECK(strstr(nnc_last_error(), "error:") != NULL);
  CHECK(strstr(nnc_last_error(), "y = relu(z)") != NULL);
  CHECK(strchr(nnc_last_error(), '^') != NULL);
  nnc_options small = {4, 0, 0, NULL, 0, 0, 0};
  CHECK_ERROR(nnc_compile_text("model m {}", NULL, &small, &model), NNC_INVALID_ARGUMENT,
              "nnc_options.size");
  nnc_options negative = NNC_OPTIONS_INIT;
  negative.threads = -1;
  CHECK_ERROR(nnc_compile_text("model m {}", NULL, &negative, &model), NNC_INVALID_ARGUMENT,
              "threads");
  nnc_options cache = NNC_OPTIONS_INIT;
  cache.use_cache = 7;
  CHECK_ERROR(nnc_compile_text("model m {}", NULL, &cache, &model), NNC_INVALID_ARGUMENT,
              "use_cache");
  nnc_options precision = NNC_OPTIONS_INIT;
  precision.precision = 9;
  CHECK_ERROR(nnc_compile_text("model m {}", NULL, &precision, &model), NNC_INVALID_ARGUMENT,
              "nnc_options.precision");
  /* A caller built against nnc 0.1.0 passes the size of its struct, which
     ended before `precision` (its padding is not read). */
  nnc_options old = NNC_OPTIONS_INIT;
  old.size = offsetof(nnc_options, reserved) + sizeof(int);
  old.reserved = 12345;
  old.precision = 12345;
  CHECK(nnc_compile_text("model m {\n  input x: f32[2]\n  output x\n}\n", NULL, &old, &model) ==
        NNC_OK);
  nnc_model_free(model);
  model = NULL;
  /* bf16 for a CPU without AVX512_BF16: refused, naming the feature. */
  precision.precision = NNC_PRECISION_BF16;
  precision.target_cpu = "skylake-avx512";
  CHECK_ERROR(nnc_compile_text("model m {}", NULL, &precision, &model), NNC_UNSUPPORTED,
              "AVX512_BF16");
  /* Rank 9: refused where it is declared. */
  CHECK_ERROR(nnc_compile_text("model m {\n  input x: f32[1, 1, 1, 1, 1, 1, 1, 1, 2]\n"
                               "  y = x * 2\n  output y\n}\n",
                               "deep.ir", NULL, &model),
              NNC_UNSUPPORTED, "deep.ir:2:");
  (void)examples;
}

static void badCalls(nnc_model *model, nnc_session *session, const char *scratch) {
  nnc_tensor good[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"y", NNC_F32, 2, kShapeY, kY}};
  float loss = 0;
  CHECK_ERROR(nnc_train_step(NULL, good, 2, &loss), NNC_INVALID_ARGUMENT, "session is null");
  CHECK_ERROR(nnc_train_step(session, NULL, 2, &loss), NNC_INVALID_ARGUMENT, "inputs is null");
  /* Wrong shape: y as [4, 2]. */
  nnc_tensor wrongShape[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"y", NNC_F32, 2, kShapeX, kX}};
  CHECK_ERROR(nnc_train_step(session, wrongShape, 2, &loss), NNC_SHAPE_ERROR, "'y'");
  /* Wrong dtype. */
  nnc_tensor wrongType[2] = {{"x", NNC_I32, 2, kShapeX, kX}, {"y", NNC_F32, 2, kShapeY, kY}};
  CHECK_ERROR(nnc_train_step(session, wrongType, 2, &loss), NNC_SHAPE_ERROR, "'x'");
  /* Disagreeing batch dims. */
  int64_t three[2] = {3, 1};
  nnc_tensor disagree[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"y", NNC_F32, 2, three, kY}};
  CHECK_ERROR(nnc_train_step(session, disagree, 2, &loss), NNC_SHAPE_ERROR, "B");
  /* Unknown name, a missing input, a null name, null data, a negative extent. */
  nnc_tensor unknown[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"label", NNC_F32, 2, kShapeY, kY}};
  CHECK_ERROR(nnc_train_step(session, unknown, 2, &loss), NNC_NOT_FOUND, "no input 'label'");
  CHECK_ERROR(nnc_train_step(session, good, 1, &loss), NNC_SHAPE_ERROR, "'y'");
  nnc_tensor noName[1] = {{NULL, NNC_F32, 2, kShapeX, kX}};
  CHECK_ERROR(nnc_infer(session, noName, 1), NNC_INVALID_ARGUMENT, "null name");
  nnc_tensor noData[1] = {{"x", NNC_F32, 2, kShapeX, NULL}};
  CHECK_ERROR(nnc_infer(session, noData, 1), NNC_INVALID_ARGUMENT, "data is null");
  int64_t negative[2] = {-4, 2};
  nnc_tensor negativeShape[1] = {{"x", NNC_F32, 2, negative, kX}};
  CHECK_ERROR(nnc_infer(session, negativeShape, 1), NNC_INVALID_ARGUMENT, "negative");
  nnc_tensor twice[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"x", NNC_F32, 2, kShapeX, kX}};
  CHECK_ERROR(nnc_infer(session, twice, 2), NNC_INVALID_ARGUMENT, "twice");

  /* Params by name. */
  float w1[4];
  CHECK_ERROR(nnc_read(session, "w9", w1, sizeof w1), NNC_NOT_FOUND, "'w9'");
  CHECK_ERROR(nnc_read(session, "x", w1, sizeof w1), NNC_NOT_FOUND, "'x'");
  CHECK_ERROR(nnc_read(session, "w1", w1, 8), NNC_SHAPE_ERROR, "f32[2, 2]");
  CHECK_ERROR(nnc_read(session, NULL, w1, 8), NNC_INVALID_ARGUMENT, "name is null");
  CHECK_ERROR(nnc_write(session, "w1", NULL, 16), NNC_INVALID_ARGUMENT, "data is null");
  nnc_tensor_info info;
  CHECK_ERROR(nnc_model_info(model, NNC_PARAM, 99, &info), NNC_NOT_FOUND, "index 99");
  CHECK_ERROR(nnc_model_find(model, "nothing", &info), NNC_NOT_FOUND, "'nothing'");
  nnc_tensor out;
  CHECK_ERROR(nnc_output(session, 7, &out), NNC_NOT_FOUND, "no output 7");

  /* Checkpoints. */
  char path[4096];
  snprintf(path, sizeof path, "%s/missing.safetensors", scratch);
  CHECK_ERROR(nnc_load(session, path), NNC_IO_ERROR, "missing.safetensors");
  CHECK_ERROR(nnc_save(session, NULL), NNC_INVALID_ARGUMENT, "path is null");
}

/* yhat for the four XOR inputs. */
static int predict(nnc_session *session, float yhat[4]) {
  nnc_tensor x[1] = {{"x", NNC_F32, 2, kShapeX, kX}};
  if (nnc_infer(session, x, 1) != NNC_OK)
    return 0;
  nnc_tensor out;
  if (nnc_output(session, 0, &out) != NNC_OK)
    return 0;
  CHECK(out.dtype == NNC_F32 && out.rank == 2 && out.shape[0] == 4 && out.shape[1] == 1);
  CHECK(strcmp(out.name, "yhat") == 0);
  memcpy(yhat, out.data, 4 * sizeof(float));
  return 1;
}

static int readies[4];
static void countReady(void *ctx, int64_t i) {
  (void)ctx;
  ++readies[i];
}

/* The training step cut at the gradients: compute then apply is train_step. */
static int splitStep(const char *examples) {
  char path[4096];
  snprintf(path, sizeof path, "%s/xor.ir", examples);
  nnc_options options = NNC_OPTIONS_INIT;
  options.threads = 1;
  options.split_step = 1;
  nnc_model *model = NULL;
  if (nnc_compile_file(path, &options, &model) != NNC_OK)
    return 1;
  CHECK(nnc_gradients_size(model) == 256);
  CHECK(nnc_gradient_offset(model, "w1") == 0 && nnc_gradient_offset(model, "b2") == 192);
  CHECK(nnc_gradient_offset(model, "nope") == -1);
  nnc_session *whole = NULL, *split = NULL;
  CHECK(nnc_session_create(model, &whole) == NNC_OK && nnc_session_create(model, &split) == NNC_OK);
  nnc_tensor inputs[2] = {{"x", NNC_F32, 2, kShapeX, kX}, {"y", NNC_F32, 2, kShapeY, kY}};
  float gradients[64], a = 0, b = 0;
  for (int step = 0; step < 50; ++step) {
    CHECK(nnc_train_step(whole, inputs, 2, &a) == NNC_OK);
    CHECK(nnc_compute_gradients(split, inputs, 2, gradients, &b, countReady, NULL) == NNC_OK);
    CHECK(nnc_apply_gradients(split, gradients) == NNC_OK);
    CHECK(a == b);
  }
  for (int i = 0; i < 4; ++i)
    CHECK(readies[i] == 50);
  float wa[4], wb[4];
  CHECK(nnc_read(whole, "w1", wa, sizeof wa) == NNC_OK &&
        nnc_read(split, "w1", wb, sizeof wb) == NNC_OK);
  CHECK(memcmp(wa, wb, sizeof wa) == 0);
  CHECK_ERROR(nnc_compute_gradients(split, inputs, 2, NULL, &b, NULL, NULL), NNC_INVALID_ARGUMENT,
              "gradients is null");
  nnc_session_free(whole);
  nnc_session_free(split);
  nnc_model_free(model);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: capi_test EXAMPLES_DIR SCRATCH_DIR\n");
    return 2;
  }
  printf("nnc %s\n", nnc_version());
  badModels(argv[1]);

  char path[4096];
  snprintf(path, sizeof path, "%s/xor.ir", argv[1]);
  nnc_options options = NNC_OPTIONS_INIT;
  options.threads = 1;
  options.use_cache = 0;
  nnc_model *model = NULL;
  if (nnc_compile_file(path, &options, &model) != NNC_OK) {
    fprintf(stderr, "%s\n", nnc_last_error());
    return 1;
  }
  CHECK(strcmp(nnc_model_name(model), "xor") == 0);
  CHECK(nnc_model_can_train(model) == 1);
  CHECK(nnc_model_count(model, NNC_INPUT) == 2);
  CHECK(nnc_model_count(model, NNC_OUTPUT) == 1);
  CHECK(nnc_model_count(model, NNC_PARAM) == 4);
  nnc_tensor_info info;
  CHECK(nnc_model_info(model, NNC_INPUT, 0, &info) == NNC_OK);
  CHECK(strcmp(info.name, "x") == 0 && info.rank == 2 && info.shape[0] == -1 &&
        strcmp(info.dim_names[0], "B") == 0 && info.shape[1] == 2 && info.dim_names[1] == NULL);
  CHECK(nnc_model_find(model, "w2", &info) == NNC_OK);
  CHECK(info.kind == NNC_PARAM && info.rank == 2 && info.shape[0] == 2 && info.shape[1] == 1);

  nnc_session *session = NULL;
  CHECK_ERROR(nnc_session_create(NULL, &session), NNC_INVALID_ARGUMENT, "model is null");
  if (nnc_session_create(model, &session) != NNC_OK) {
    fprintf(stderr, "%s\n", nnc_last_error());
    return 1;
  }
  badCalls(model, session, argv[2]);

  /* Train: the loss falls and XOR is learned. */
  nnc_tensor inputs[2] = {{"y", NNC_F32, 2, kShapeY, kY}, {"x", NNC_F32, 2, kShapeX, kX}};
  float first = 0, loss = 0;
  for (int step = 0; step < 3000; ++step) {
    CHECK(nnc_train_step(session, inputs, 2, &loss) == NNC_OK);
    if (step == 0)
      first = loss;
  }
  printf("xor: loss %.4f -> %.6f after 3000 steps\n", first, loss);
  CHECK(loss < 0.05f && loss < first);
  float yhat[4];
  CHECK(predict(session, yhat));
  for (int i = 0; i < 4; ++i)
    CHECK(fabsf(yhat[i] - kY[i]) < 0.2f);

  /* A second session of the same model starts from the initial params. */
  nnc_session *fresh = NULL;
  CHECK(nnc_session_create(model, &fresh) == NNC_OK);
  float w1Trained[4], w1Initial[4];
  CHECK(nnc_read(session, "w1", w1Trained, sizeof w1Trained) == NNC_OK);
  CHECK(nnc_read(fresh, "w1", w1Initial, sizeof w1Initial) == NNC_OK);
  CHECK(memcmp(w1Trained, w1Initial, sizeof w1Trained) != 0);

  /* Save, overwrite a param, load: the trained values and predictions return. */
  snprintf(path, sizeof path, "%s/xor.safetensors", argv[2]);
  CHECK(nnc_save(session, path) == NNC_OK);
  float zeros[4] = {0, 0, 0, 0};
  CHECK(nnc_write(session, "w1", zeros, sizeof zeros) == NNC_OK);
  float back[4];
  CHECK(nnc_read(session, "w1", back, sizeof back) == NNC_OK);
  CHECK(memcmp(back, zeros, sizeof zeros) == 0);
  CHECK(nnc_load(session, path) == NNC_OK);
  CHECK(nnc_read(session, "w1", back, sizeof back) == NNC_OK);
  CHECK(memcmp(back, w1Trained, sizeof back) == 0);
  float again[4];
  CHECK(predict(session, again));
  CHECK(memcmp(again, yhat, sizeof again) == 0);
  /* The fresh session loads the same checkpoint and predicts the same bits. */
  CHECK(nnc_load(fresh, path) == NNC_OK);
  CHECK(predict(fresh, again));
  CHECK(memcmp(again, yhat, sizeof again) == 0);

  /* Without the split, the gradient calls are refused. */
  float scratch[64];
  CHECK(nnc_gradients_size(model) == 0);
  CHECK_ERROR(nnc_compute_gradients(fresh, inputs, 2, scratch, &loss, NULL, NULL), NNC_UNSUPPORTED,
              "split_step");

  /* Sessions may outlive their model. */
  nnc_session_free(session);
  nnc_model_free(model);
  CHECK(nnc_train_step(fresh, inputs, 2, &loss) == NNC_OK);
  CHECK(predict(fresh, again));
  nnc_session_free(fresh);
  nnc_session_free(NULL);
  nnc_model_free(NULL);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  if (splitStep(argv[1]) != 0)
    return 1;
  printf("capi_test: all checks passed\n");
  return 0;
}
