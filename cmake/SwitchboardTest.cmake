# SPDX-License-Identifier: MIT
# Only with SWITCHBOARD_BUILD_TESTS: folders that define tests wrap them (and
# anything that names a test target) in if(SWITCHBOARD_BUILD_TESTS).
if(SWITCHBOARD_BUILD_TESTS)
  include(GoogleTest)
endif()

# switchboard_add_test(NAME SOURCES... LIBS ...): one GoogleTest binary whose
# tests are registered with ctest one by one.
function(switchboard_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  switchboard_warnings(${name})
  set_target_properties(${name} PROPERTIES UNITY_BUILD ON)
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30
                       PROPERTIES TIMEOUT 120)
endfunction()
