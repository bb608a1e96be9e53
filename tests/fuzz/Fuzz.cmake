# The libFuzzer targets (NNC_FUZZ=ON, clang only): one executable per reader,
# fuzz_<target>, over nnc_core built with -fsanitize=fuzzer-no-link,address,
# undefined. tools/fuzz.sh configures build-fuzz/ and runs them.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "NNC_FUZZ needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++-19)")
endif()
foreach(target Parser Npy Safetensors Idx Csv Onnx)
  string(TOLOWER ${target} name)
  add_executable(fuzz_${name} ${CMAKE_SOURCE_DIR}/tests/fuzz/${target}Fuzz.cpp)
  target_link_libraries(fuzz_${name} PRIVATE nnc_core)
  target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
endforeach()
