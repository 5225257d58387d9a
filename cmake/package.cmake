# The Debian package: `cpack -G DEB` in the build directory (or `cmake --build BUILD --target
# package`) writes proctrail_<version>_<arch>.deb, for `apt-get install ./proctrail_*.deb`.
#
# It holds what `cmake --install` installs (tool, library, headers, CMake package, pkg-config
# file, manual, schema), laid out for the prefix /usr, and besides that, in the component "deb"
# that plain installs leave out:
#   /lib/systemd/system/proctrail.service   where Debian 12's packages put units, naming /usr/bin
#   /etc/logrotate.d/proctrail              for records written with -o but without --rotate-size
#   /usr/share/proctrail/setcap.sh          run by postinst: mode 0750, group, capabilities
#   /usr/share/doc/proctrail/copyright      the licence, where Debian looks for it
# The maintainer scripts are in packaging/debian/. The prefix's own unit (component "unit") and
# the setcap step of -DPROCTRAIL_SETCAP=ON (component "setcap") are not packed: the first would
# be a second copy of the unit under /usr/lib, the second would run on the build machine.

set(proctrail_deb_prefix /usr)
if(IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(proctrail_deb_bindir "${CMAKE_INSTALL_BINDIR}")
else()
  set(proctrail_deb_bindir "${proctrail_deb_prefix}/${CMAKE_INSTALL_BINDIR}")
endif()
set(PROCTRAIL_DEB_BINARY "${proctrail_deb_bindir}/proctrail")
set(PROCTRAIL_DEB_SETCAP "${proctrail_deb_prefix}/share/proctrail/setcap.sh")

# The unit for the package's prefix: the same template, with /usr/bin in ExecStart.
function(proctrail_configure_deb_unit output)
  set(CMAKE_INSTALL_FULL_BINDIR "${proctrail_deb_bindir}")
  configure_file(${PROJECT_SOURCE_DIR}/packaging/proctrail.service.in ${output} @ONLY)
endfunction()
set(proctrail_deb_dir ${CMAKE_BINARY_DIR}/packaging/deb)
proctrail_configure_deb_unit(${proctrail_deb_dir}/proctrail.service)

install(FILES ${proctrail_deb_dir}/proctrail.service
  DESTINATION /lib/systemd/system COMPONENT deb EXCLUDE_FROM_ALL)
# Only in the package: /etc belongs to the system, not to an install prefix, and a plain
# `cmake --install --prefix /opt/x` (or the install test's temporary prefix) must not write
# outside its prefix. dpkg knows the file as a configuration file (packaging/debian/conffiles):
# an admin's edits survive upgrades, and purge removes it.
install(FILES packaging/proctrail.logrotate
  DESTINATION /etc/logrotate.d RENAME proctrail COMPONENT deb EXCLUDE_FROM_ALL)
install(PROGRAMS packaging/setcap.sh
  DESTINATION share/proctrail COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES LICENSE
  DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright COMPONENT deb EXCLUDE_FROM_ALL)
# CPACK_STRIP_FILES below strips the binary (and a shared library) but leaves a static library
# as built: with RelWithDebInfo that is some 80 MB of debug information in /usr/lib. Its
# symbols stay; only the debug sections go, as Debian's own -dev packages have them. CPack
# installs the default component before this one, so the archive is there to strip.
if(NOT BUILD_SHARED_LIBS AND CMAKE_STRIP)
  install(CODE "
    set(archive \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_LINKER_FILE_NAME:proctrail_core>\")
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug \"\${archive}\" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR \"${CMAKE_STRIP} --strip-debug \${archive} failed\")
    endif()" COMPONENT deb EXCLUDE_FROM_ALL)
endif()

# The maintainer scripts name the monitor group and the paths above; dpkg runs them as they
# are, so they are filled in here. PROCTRAIL_GROUP must be the group the binary was built for.
foreach(script postinst postrm prerm)
  configure_file(packaging/debian/${script}.in ${proctrail_deb_dir}/${script} @ONLY)
endforeach()

set(PROCTRAIL_DEB_MAINTAINER "proctrail maintainers <maintainers@users.noreply.r-seed-8092886a.example>"
  CACHE STRING "the Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME proctrail)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the proctrail authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "record of every process the machine starts")
set(CPACK_PACKAGE_DESCRIPTION "proctrail reports every process the machine starts, with its \
true command line, parent, user, working directory, container, exit status and lifetime, also \
for processes that live for microseconds. It reads them with eBPF programs on kernel tracepoints \
or from the kernel's proc connector, checks that each /proc read belongs to its exec, and \
reports lost events instead of dropping them silently. Output is text, JSON lines or the proc \
connector sample's format, to a terminal or to a rotated file.
.
The package installs the proctrail tool (usable by root and by members of group \
${PROCTRAIL_GROUP}, through file capabilities), a systemd unit that keeps a record in \
/var/log/proctrail (not enabled), its manual page, and the C++20 library with its headers, \
CMake package and pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${proctrail_deb_prefix})
# Pack the default component and "deb" into one package: see the top of this file.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Unspecified deb)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
# The binary goes without its debug information, as Debian's own packages do.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PROCTRAIL_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps (package dpkg-dev; CPack also needs `file`) derives the libraries' packages
# from the binary. Added to them: what the maintainer scripts run, setcap (libcap2-bin) and
# groupadd/groupdel (passwd).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcap2-bin, passwd")
# Suggested: logrotate, for the snippet in /etc/logrotate.d; and for building against the
# library, what find_package(proctrail) and proctrail.pc look for.
set(proctrail_deb_suggests "logrotate, pkg-config, libfmt-dev, libre2-dev")
if(PROCTRAIL_WITH_BPF)
  string(APPEND proctrail_deb_suggests ", libbpf-dev")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "${proctrail_deb_suggests}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${proctrail_deb_dir}/postinst ${proctrail_deb_dir}/prerm ${proctrail_deb_dir}/postrm
  ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)
# Maintainer scripts 0755, conffiles 0644, whatever the modes in the source tree.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# `cpack --config CPackSourceConfig.cmake` (target package_source): the sources without build
# directories or git's.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")

include(CPack)
