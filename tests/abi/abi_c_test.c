/* The ABI header compiles as strict C11 and its size macros agree with the
 * compiler's layout. Built with -std=c11 -pedantic-errors. */
#include <mrt/plugin.h>
#include <stdio.h>

int main(void) {
  int failures = 0;
#define CHECK_SIZE(macro, type)                                                        \
  do {                                                                                 \
    if ((macro) > sizeof(type)) {                                                      \
      printf("FAIL %s = %zu exceeds sizeof(%s) = %zu\n", #macro, (size_t)(macro), #type, \
             sizeof(type));                                                            \
      ++failures;                                                                      \
    } else {                                                                           \
      printf("ok   %-36s %zu\n", #macro, (size_t)(macro));                              \
    }                                                                                  \
  } while (0)
  CHECK_SIZE(MRT_TENSOR_STRUCT_SIZE, MRT_Tensor);
  CHECK_SIZE(MRT_TENSOR_INFO_STRUCT_SIZE, MRT_TensorInfo);
  CHECK_SIZE(MRT_GENERATION_PARAMS_STRUCT_SIZE, MRT_GenerationParams);
  CHECK_SIZE(MRT_REQUEST_STRUCT_SIZE, MRT_Request);
  CHECK_SIZE(MRT_STAGE_ARGS_STRUCT_SIZE, MRT_StageArgs);
  CHECK_SIZE(MRT_HOST_API_STRUCT_SIZE, MRT_HostApi);
  CHECK_SIZE(MRT_PLUGIN_INFO_STRUCT_SIZE, MRT_PluginInfo);
  CHECK_SIZE(MRT_INIT_ARGS_STRUCT_SIZE, MRT_InitArgs);
  CHECK_SIZE(MRT_OPTION_STRUCT_SIZE, MRT_Option);
  CHECK_SIZE(MRT_MODEL_LOAD_ARGS_STRUCT_SIZE, MRT_ModelLoadArgs);
  CHECK_SIZE(MRT_MODEL_INFO_STRUCT_SIZE, MRT_ModelInfo);
  CHECK_SIZE(MRT_PLUGIN_API_STRUCT_SIZE, MRT_PluginApi);
  {
    MRT_PluginInfo small = {0};
    small.struct_size = MRT_STRUCT_SIZE(MRT_PluginInfo, version);
    if (MRT_FIELD_PRESENT(&small, MRT_PluginInfo, flags)) {
      printf("FAIL MRT_FIELD_PRESENT reads past a smaller struct\n");
      ++failures;
    }
  }
  printf("%d passed, %d failed\n", 13 - failures, failures);
  return failures == 0 ? 0 : 1;
}
