# SPDX-License-Identifier: MIT
# Debian packages from the install rules (packaging/CMakeLists.txt), one per
# component; scripts/package runs cpack on a Release build configured with
# CMAKE_INSTALL_PREFIX=/usr.
#   switchboard          broker, CLI, systemd user units, man pages
#   libswitchboard0      libswitchboard.so.0
#   libswitchboard-dev   headers, libswitchboard.so, CMake package,
#                        switchboard.pc, the .proto files
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME switchboard)
set(CPACK_PACKAGE_VENDOR "Switchboard maintainers")
set(CPACK_PACKAGE_CONTACT "Switchboard maintainers <maintainers@users.noreply.h-seed-69421117.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "local message bus for Linux")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/packaging/copyright)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL broker runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CPACK_PACKAGE_CONTACT})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files' needs (dpkg-shlibdeps), plus those below.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The tool links libswitchboard.so.0, which no installed package provides
# yet: dpkg-shlibdeps finds it in the build tree, and the tool's package
# depends on libswitchboard0 explicitly.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${PROJECT_BINARY_DIR}/client)
# libswitchboard0 ships a shlibs file, so packages built against it get
# their Depends from dpkg-shlibdeps too.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS OFF)

set(CPACK_DEBIAN_BROKER_PACKAGE_NAME switchboard)
set(CPACK_DEBIAN_BROKER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_BROKER_PACKAGE_DEPENDS "libswitchboard0 (= ${PROJECT_VERSION}-1)")
# The user units start the broker at login; it runs without them too.
set(CPACK_DEBIAN_BROKER_PACKAGE_RECOMMENDS systemd)
set(CPACK_COMPONENT_BROKER_DESCRIPTION "local message bus for Linux: broker and command-line tool
 Switchboard is a message bus for the programs of one Linux machine: they
 call each other's methods, stream replies, publish and subscribe to topics,
 and pass large data as shared memory. This package holds the broker
 (switchboardd), started at login by systemd's user manager through
 socket activation (switchboard.socket), and the command-line tool
 (switchboard) to list, call, publish, subscribe and monitor.")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libswitchboard0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "local message bus for Linux: client library
 Switchboard is a message bus for the programs of one Linux machine. This
 package holds the shared library applications use to talk to the broker
 (libswitchboard.so.0).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libswitchboard-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libswitchboard0 (= ${PROJECT_VERSION}-1), libprotobuf-dev, libabsl-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION "local message bus for Linux: development files
 Switchboard is a message bus for the programs of one Linux machine. This
 package holds what building an application against libswitchboard needs:
 the C++ headers (with the protocol's generated messages), the CMake package
 (find_package(Switchboard)), the pkg-config file (switchboard.pc) and the
 protocol's .proto files, for clients in other languages.")

include(CPack)
