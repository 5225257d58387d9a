# What `cmake --install` puts in the prefix: the tool, the library, the public headers, a CMake
# package (find_package(proctrail) gives proctrail::proctrail) and proctrail.pc for pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS proctrail RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS proctrail_core EXPORT proctrailTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/proctrail DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(proctrail_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/proctrail)
install(EXPORT proctrailTargets NAMESPACE proctrail:: DESTINATION ${proctrail_cmake_dir})
configure_package_config_file(cmake/proctrailConfig.cmake.in
  ${CMAKE_BINARY_DIR}/proctrailConfig.cmake INSTALL_DESTINATION ${proctrail_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/proctrailConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/proctrailConfig.cmake
  ${CMAKE_BINARY_DIR}/proctrailConfigVersion.cmake DESTINATION ${proctrail_cmake_dir})

# pkg-config: a static library brings its dependencies along in Requires/Libs; a shared one
# only needs them when linking statically.
if(BUILD_SHARED_LIBS)
  set(PC_REQUIRES_FIELD "Requires.private")
  set(PC_LIBS_EXTRA "")
  set(PC_LIBS_PRIVATE "-pthread")
else()
  set(PC_REQUIRES_FIELD "Requires")
  set(PC_LIBS_EXTRA "-pthread")
  set(PC_LIBS_PRIVATE "")
endif()
set(PC_REQUIRES "fmt re2")
if(PROCTRAIL_WITH_BPF)
  string(APPEND PC_REQUIRES " libbpf")
endif()
# Relocatable: the prefix is found from where the .pc file is.
file(RELATIVE_PATH PC_PREFIX_REL "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(cmake/proctrail.pc.in ${CMAKE_BINARY_DIR}/proctrail.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/proctrail.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The manual, the event schema and the systemd unit.
install(FILES docs/proctrail.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/event.schema.json DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The unit names the installed binary: written at install time, for the prefix installed to
# (cmake --install --prefix may differ from the configured one).
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/packaging/proctrail.service.in\" unit)
  set(bindir \"${CMAKE_INSTALL_BINDIR}\")
  if(NOT IS_ABSOLUTE \"\${bindir}\")
    set(bindir \"\${CMAKE_INSTALL_PREFIX}/\${bindir}\")
  endif()
  string(REPLACE \"@CMAKE_INSTALL_FULL_BINDIR@\" \"\${bindir}\" unit \"\${unit}\")
  set(dest \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  file(MAKE_DIRECTORY \"\${dest}\")
  file(WRITE \"\${dest}/proctrail.service\" \"\${unit}\")
  message(STATUS \"Installing: \${dest}/proctrail.service\")")

# Without root: file capabilities on the installed binary (needs setcap, from libcap2-bin, and
# a file system that keeps them). The capabilities are those the man page lists. Whoever can
# run such a binary can load eBPF programs through it, so it is made executable by root and the
# monitor group (PROCTRAIL_GROUP) only: mode 0750, group created when missing. Members see
# every user's processes; see PRIVILEGES in proctrail(8).
option(PROCTRAIL_SETCAP "give the installed proctrail the capabilities it needs (setcap), for group ${PROCTRAIL_GROUP}" OFF)
if(PROCTRAIL_SETCAP)
  install(CODE "
    execute_process(COMMAND sh ${PROJECT_SOURCE_DIR}/packaging/setcap.sh
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/proctrail\" ${PROCTRAIL_GROUP}
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"packaging/setcap.sh failed (is libcap2-bin installed, and are you root?)\")
    endif()")
endif()
