# Read by every CMake build under cargo (CMAKE_TOOLCHAIN_FILE in .cargo/config.toml); it only adds
# cache defaults, so the host compiler and flags stay CMake's own choice.
#
# oneDNN (built from source by the onednn-src crate for the default `dnnl` backend): CTranslate2
# calls only its GEMM routines, convolution (Whisper's two encoder convolutions) and reorder, so
# build just those primitives, for inference, as CTranslate2's own wheels do. That cuts oneDNN's
# build from ~25 minutes of 2-core time to a few (README, "CPU backend").
set(ONEDNN_ENABLE_PRIMITIVE "CONVOLUTION;REORDER" CACHE STRING "oneDNN primitives to build")
set(ONEDNN_ENABLE_WORKLOAD "INFERENCE" CACHE STRING "oneDNN workload")
set(ONEDNN_BUILD_GRAPH OFF CACHE BOOL "oneDNN graph API")
