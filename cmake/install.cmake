# What `cmake --install` puts in the prefix: the tool, the library, the public headers, a CMake
# package (find_package(proctrail) gives proctrail::proctrail) and proctrail.pc for pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS proctrail RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS proctrail_core EXPORT proctrailTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/proctrail DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  PATTERN "*.in" EXCLUDE)
install(FILES ${CMAKE_BINARY_DIR}/include/proctrail/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/proctrail)

set(proctrail_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/proctrail)
install(EXPORT proctrailTargets NAMESPACE proctrail:: DESTINATION ${proctrail_cmake_dir})
configure_package_config_file(cmake/proctrailConfig.cmake.in
  ${CMAKE_BINARY_DIR}/proctrailConfig.cmake INSTALL_DESTINATION ${proctrail_cmake_dir})
# Before 1.0 a minor version may change the API: find_package(proctrail 0.3) takes 0.3.x
# only. From 1.0 on, SameMajorVersion (docs/library.md, "Versions").
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

# The manual and the event schema.
install(FILES docs/proctrail.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/event.schema.json DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The systemd unit, under PREFIX/lib/systemd/system. It is written now, at configure time, so
# that install(FILES) records it in install_manifest.txt and the uninstall target below can
# remove it. Its ExecStart names the configured bindir; `cmake --install --prefix OTHER` then
# rewrites that one line in the installed copy, so the unit still starts the binary it was
# installed with. The Debian package does not use this copy (cmake/package.cmake installs one
# for /usr under /lib/systemd/system), hence the component of its own.
configure_file(packaging/proctrail.service.in ${CMAKE_BINARY_DIR}/packaging/proctrail.service
  @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/proctrail.service
  DESTINATION lib/systemd/system COMPONENT unit)
install(CODE "
  set(bindir \"${CMAKE_INSTALL_BINDIR}\")
  if(NOT IS_ABSOLUTE \"\${bindir}\")
    set(bindir \"\${CMAKE_INSTALL_PREFIX}/\${bindir}\")
  endif()
  if(NOT bindir STREQUAL \"${CMAKE_INSTALL_FULL_BINDIR}\")
    set(unit_file \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/proctrail.service\")
    file(READ \"\${unit_file}\" unit)
    string(REPLACE \"ExecStart=${CMAKE_INSTALL_FULL_BINDIR}/\" \"ExecStart=\${bindir}/\" unit \"\${unit}\")
    file(WRITE \"\${unit_file}\" \"\${unit}\")
    message(STATUS \"Pointed ExecStart at \${bindir}/proctrail in: \${unit_file}\")
  endif()" COMPONENT unit)

# Without root: file capabilities on the installed binary (needs setcap, from libcap2-bin, and
# a file system that keeps them). The capabilities are those the man page lists. Whoever can
# run such a binary can load eBPF programs through it, so it is made executable by root and the
# monitor group (PROCTRAIL_GROUP) only: mode 0750, group created when missing. Members see
# every user's processes; see PRIVILEGES in proctrail(8). A component of its own because the
# Debian package must not run it while packing (its postinst does this on the target machine).
option(PROCTRAIL_SETCAP "give the installed proctrail the capabilities it needs (setcap), for group ${PROCTRAIL_GROUP}" OFF)
if(PROCTRAIL_SETCAP)
  install(CODE "
    execute_process(COMMAND sh ${PROJECT_SOURCE_DIR}/packaging/setcap.sh
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/proctrail\" ${PROCTRAIL_GROUP}
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"packaging/setcap.sh failed (is libcap2-bin installed, and are you root?)\")
    endif()" COMPONENT setcap)
endif()

# `cmake --build BUILD --target uninstall` removes every file that the last `cmake --install`
# from this build directory wrote, as listed in its install_manifest.txt, and says which. The
# manifest lists files only: a folder goes too when it is named proctrail and left empty
# (include/proctrail, lib/cmake/proctrail, share/doc/proctrail); shared ones such as bin/ stay.
# The group that PROCTRAIL_SETCAP may have created stays as well: other files may belong to it.
# The manifest's paths leave out DESTDIR: an install into a DESTDIR is uninstalled with the same
# DESTDIR in the environment.
file(WRITE ${CMAKE_BINARY_DIR}/proctrail_uninstall.cmake [=[
if(NOT EXISTS "${manifest}")
  message(FATAL_ERROR "nothing to uninstall: ${manifest} is missing (cmake --install writes it)")
endif()
file(STRINGS "${manifest}" files)
set(removed 0)
set(absent 0)
set(dirs "")
list(TRANSFORM files PREPEND "$ENV{DESTDIR}")
foreach(f IN LISTS files)
  if(IS_SYMLINK "${f}" OR EXISTS "${f}")
    file(REMOVE "${f}")
    if(IS_SYMLINK "${f}" OR EXISTS "${f}")
      message(FATAL_ERROR "could not remove ${f}")
    endif()
    message(STATUS "Removed: ${f}")
    math(EXPR removed "${removed} + 1")
    get_filename_component(dir "${f}" DIRECTORY)
    list(APPEND dirs "${dir}")
  else()
    message(STATUS "Already gone: ${f}")
    math(EXPR absent "${absent} + 1")
  endif()
endforeach()
list(REMOVE_DUPLICATES dirs)
foreach(dir IN LISTS dirs)
  get_filename_component(name "${dir}" NAME)
  file(GLOB left "${dir}/*" "${dir}/.*")
  if(name STREQUAL "proctrail" AND IS_DIRECTORY "${dir}" AND NOT left)
    file(REMOVE_RECURSE "${dir}")
    message(STATUS "Removed: ${dir}/")
  endif()
endforeach()
message(STATUS "uninstall: removed ${removed} files listed in ${manifest}, ${absent} were already gone")
]=])
add_custom_target(uninstall
  COMMAND ${CMAKE_COMMAND} -Dmanifest=${CMAKE_BINARY_DIR}/install_manifest.txt
          -P ${CMAKE_BINARY_DIR}/proctrail_uninstall.cmake
  COMMENT "Removing what cmake --install installed from this build"
  VERBATIM)
