# SPDX-License-Identifier: MIT
# switchboard/version.h, generated from project(VERSION). The header-only
# target switchboard_version lets the broker (daemon/core) and the library
# take the version from the same place.
configure_file(${PROJECT_SOURCE_DIR}/client/include/switchboard/version.h.in
               ${PROJECT_BINARY_DIR}/version/include/switchboard/version.h
               @ONLY)
add_library(switchboard_version INTERFACE)
target_include_directories(switchboard_version INTERFACE
  $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/version/include>
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/client/include>)
