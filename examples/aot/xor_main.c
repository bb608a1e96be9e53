/* xor_main.c: plain C that links the ahead-of-time object of examples/xor.ir
 * (`nnc compile examples/xor.ir -o xor.o --header xor.h`), trains the 2-2-1
 * network on the four XOR points and prints its predictions. Build:
 *   cc -O2 xor_main.c xor.o -lm -o xor_aot
 * It needs no LLVM and no nnc library: only libc and libm. */
#include "xor.h"

#include <stdio.h>
#include <stdlib.h>

static void *aligned(uint64_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); }

int main(void) {
  if (!xor_cpu_supported()) {
    fprintf(stderr, "this CPU lacks the instructions xor.o was compiled for\n");
    return 1;
  }
  int64_t dims[xor_NUM_DIMS] = {4}; /* B = 4 examples */
  void *state = aligned(xor_state_size());
  void *workspace = aligned(xor_workspace_size(dims));
  float x[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  float y[4][1] = {{0}, {1}, {1}, {0}};
  const void *inputs[xor_NUM_INPUTS] = {x, y};
  float loss = 0;
  if (!state || !workspace || xor_init(state) != 0)
    return 1;
  for (int step = 0; step < 5000; ++step)
    if (xor_train_step(state, workspace, dims, inputs, &loss) != 0)
      return 1;
  float yhat[4][1];
  void *outputs[xor_NUM_OUTPUTS] = {yhat};
  if (xor_infer(state, workspace, dims, inputs, outputs) != 0)
    return 1;
  int correct = 0;
  for (int i = 0; i < 4; ++i) {
    printf("%g xor %g -> %.4f\n", x[i][0], x[i][1], yhat[i][0]);
    correct += (yhat[i][0] >= 0.5f) == (y[i][0] >= 0.5f);
  }
  printf("loss %.6f, %d/4 correct\n", loss, correct);
  free(state);
  free(workspace);
  return correct == 4 ? 0 : 1;
}
