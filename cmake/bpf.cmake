# The eBPF backend: bpf/proctrail.bpf.c compiled with clang, a skeleton from bpftool, libbpf.
# PROCTRAIL_BPF=AUTO builds it when the tools are here; ON insists; OFF leaves it out.
set(PROCTRAIL_WITH_BPF OFF)
if(NOT PROCTRAIL_BPF STREQUAL "OFF")
  find_program(PROCTRAIL_CLANG NAMES clang clang-16 clang-15 clang-14)
  find_program(PROCTRAIL_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin /sbin)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(LIBBPF QUIET IMPORTED_TARGET libbpf)
  endif()
  # Type definitions come from the build machine's kernel BTF; CO-RE relocates them to the
  # kernel the programs are loaded on. PROCTRAIL_VMLINUX_H names a ready-made header instead.
  set(PROCTRAIL_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF to generate vmlinux.h from")
  set(PROCTRAIL_VMLINUX_H "" CACHE FILEPATH "a vmlinux.h to use instead of generating one")
  set(missing "")
  foreach(req PROCTRAIL_CLANG PROCTRAIL_BPFTOOL)
    if(NOT ${req})
      list(APPEND missing ${req})
    endif()
  endforeach()
  if(NOT LIBBPF_FOUND)
    list(APPEND missing "libbpf (pkg-config)")
  endif()
  if(NOT PROCTRAIL_VMLINUX_H AND NOT EXISTS ${PROCTRAIL_BTF})
    list(APPEND missing ${PROCTRAIL_BTF})
  endif()
  if(missing STREQUAL "")
    set(PROCTRAIL_WITH_BPF ON)
  elseif(PROCTRAIL_BPF STREQUAL "ON")
    message(FATAL_ERROR "PROCTRAIL_BPF=ON but missing: ${missing} "
                        "(apt-get install clang llvm bpftool libbpf-dev libelf-dev)")
  else()
    message(STATUS "eBPF backend left out, missing: ${missing}")
  endif()
endif()

if(PROCTRAIL_WITH_BPF)
  set(gen ${CMAKE_BINARY_DIR}/bpf)
  file(MAKE_DIRECTORY ${gen})
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(bpf_arch arm64)
  else()
    set(bpf_arch x86)
  endif()
  if(PROCTRAIL_VMLINUX_H)
    set(vmlinux_h ${PROCTRAIL_VMLINUX_H})
  else()
    set(vmlinux_h ${gen}/vmlinux.h)
    add_custom_command(OUTPUT ${vmlinux_h}
      COMMAND sh -c "\"$0\" btf dump file \"$1\" format c > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
              ${PROCTRAIL_BPFTOOL} ${PROCTRAIL_BTF} ${vmlinux_h}
      COMMENT "Generating vmlinux.h from ${PROCTRAIL_BTF}"
      VERBATIM)
  endif()
  add_custom_command(OUTPUT ${gen}/proctrail.bpf.o
    COMMAND ${PROCTRAIL_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${bpf_arch}
            -I${gen} -I${PROJECT_SOURCE_DIR}/bpf -isystem ${LIBBPF_INCLUDEDIR}
            -Wall -Werror -c ${PROJECT_SOURCE_DIR}/bpf/proctrail.bpf.c -o ${gen}/proctrail.bpf.o
    VERBATIM
    DEPENDS ${PROJECT_SOURCE_DIR}/bpf/proctrail.bpf.c ${PROJECT_SOURCE_DIR}/bpf/proctrail_events.h
            ${vmlinux_h}
    COMMENT "Compiling eBPF programs")
  add_custom_command(OUTPUT ${gen}/proctrail.skel.h
    COMMAND sh -c "\"$0\" gen skeleton \"$1\" name proctrail_bpf > \"$2.tmp\" && mv \"$2.tmp\" \"$2\""
            ${PROCTRAIL_BPFTOOL} ${gen}/proctrail.bpf.o ${gen}/proctrail.skel.h
    DEPENDS ${gen}/proctrail.bpf.o
    COMMENT "Generating the eBPF skeleton"
    VERBATIM)
  add_custom_target(proctrail_bpf_skeleton DEPENDS ${gen}/proctrail.skel.h)

  target_sources(proctrail_core PRIVATE src/source/bpf/bpf_source.cpp)
  add_dependencies(proctrail_core proctrail_bpf_skeleton)
  target_include_directories(proctrail_core PRIVATE ${gen} ${PROJECT_SOURCE_DIR}/bpf)
  target_include_directories(proctrail_core SYSTEM PRIVATE ${LIBBPF_INCLUDE_DIRS})
  target_link_libraries(proctrail_core PRIVATE PkgConfig::LIBBPF)
  # Only the library's own sources and tests look at this: the public headers promise nothing
  # about the eBPF backend (bpf_backend_built() tells at run time).
  target_compile_definitions(proctrail_core PRIVATE PROCTRAIL_WITH_BPF)
endif()
