# Cross-compile for 64-bit ARM Linux (Debian's g++-aarch64-linux-gnu) and run the results
# under QEMU user mode. `ctest` runs every kernel test once per CPU model in SDK_QEMU_CPUS.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

set(CMAKE_C_FLAGS_INIT "-march=armv8-a")
set(CMAKE_CXX_FLAGS_INIT "-march=armv8-a")

set(SDK_QEMU qemu-aarch64 CACHE STRING "QEMU user-mode emulator")
set(SDK_QEMU_LD_PREFIX /usr/aarch64-linux-gnu CACHE PATH "Target root for the dynamic loader")
set(SDK_QEMU_CPUS "cortex-a53;cortex-a72;cortex-a76" CACHE STRING "QEMU CPU models to test on")
set(CMAKE_CROSSCOMPILING_EMULATOR "${SDK_QEMU};-L;${SDK_QEMU_LD_PREFIX};-cpu;cortex-a72")
