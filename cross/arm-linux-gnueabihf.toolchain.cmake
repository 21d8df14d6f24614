# Cross-compile for 32-bit ARMv7-A Linux, NEON + VFPv4, hard float (g++-arm-linux-gnueabihf)
# and run the results under QEMU user mode (cortex-a7 by default).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7-a)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard")

set(SDK_QEMU qemu-arm CACHE STRING "QEMU user-mode emulator")
set(SDK_QEMU_LD_PREFIX /usr/arm-linux-gnueabihf CACHE PATH "Target root for the dynamic loader")
set(SDK_QEMU_CPUS "cortex-a7" CACHE STRING "QEMU CPU models to test on")
set(CMAKE_CROSSCOMPILING_EMULATOR "${SDK_QEMU};-L;${SDK_QEMU_LD_PREFIX};-cpu;cortex-a7")
