# SPDX-License-Identifier: MIT
# Only with SWITCHBOARD_BUILD_TESTS: folders that define tests wrap them (and
# anything that names a test target) in if(SWITCHBOARD_BUILD_TESTS).
if(SWITCHBOARD_BUILD_TESTS)
  include(GoogleTest)
endif()

# The ThreadSanitizer build (SWITCHBOARD_TSAN) builds and registers only the
# tests marked TSAN, the ones that run the client library's threads; building
# the target switchboard_tsan_tests builds them and what they start.
if(SWITCHBOARD_TSAN AND SWITCHBOARD_BUILD_TESTS)
  add_custom_target(switchboard_tsan_tests)
endif()

# switchboard_add_test(NAME [TSAN] SOURCES... LIBS ...): one GoogleTest binary
# whose tests are registered with ctest one by one. TSAN: also in the
# ThreadSanitizer build; elsewhere the flag changes nothing.
function(switchboard_add_test name)
  cmake_parse_arguments(ARG "TSAN" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  switchboard_warnings(${name})
  set_target_properties(${name} PROPERTIES UNITY_BUILD ON)
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gmock GTest::gtest_main)
  if(SWITCHBOARD_TSAN)
    if(NOT ARG_TSAN)
      set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL ON)
      return()
    endif()
    add_dependencies(switchboard_tsan_tests ${name})
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30
                       PROPERTIES TIMEOUT 120)
endfunction()
