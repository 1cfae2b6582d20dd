# SPDX-License-Identifier: MIT
# Warning and sanitizer flags for Switchboard's own targets. Dependencies are
# included as SYSTEM headers, so their warnings never fail our build.

set(SWITCHBOARD_WARNING_FLAGS
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
    -Wimplicit-fallthrough)
if(SWITCHBOARD_WERROR)
  list(APPEND SWITCHBOARD_WARNING_FLAGS -Werror)
endif()

# clang checks the lock annotations (ABSL_GUARDED_BY, ABSL_LOCKS_EXCLUDED,
# ...) at compile time; gcc has no such check.
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND SWITCHBOARD_WARNING_FLAGS -Wthread-safety)
endif()

if(SWITCHBOARD_TSAN AND SWITCHBOARD_SANITIZE)
  message(FATAL_ERROR "SWITCHBOARD_TSAN and SWITCHBOARD_SANITIZE exclude each "
                      "other: use two build folders")
endif()
if((SWITCHBOARD_FUZZ OR SWITCHBOARD_TSAN)
   AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SWITCHBOARD_FUZZ and SWITCHBOARD_TSAN need clang: "
                      "configure with -DCMAKE_CXX_COMPILER=clang++ or a preset")
endif()
if(SWITCHBOARD_FUZZ AND NOT SWITCHBOARD_SANITIZE)
  message(FATAL_ERROR "SWITCHBOARD_FUZZ needs SWITCHBOARD_SANITIZE=ON: the "
                      "fuzz targets link the project's libraries as built")
endif()

# The whole tree, dependencies excepted (they come from the system).
if(SWITCHBOARD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
# With SWITCHBOARD_FUZZ every library is also compiled with libFuzzer's
# coverage instrumentation, so the fuzz targets (tests/fuzz/) link the same
# libraries as the tests, and one ASan+UBSan build serves both.
if(SWITCHBOARD_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
if(SWITCHBOARD_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # Every executable gets base/tsan_absl_mutex.cc, which shows ThreadSanitizer
  # the system Abseil's locks (see that file).
  link_libraries(
    "$<$<STREQUAL:$<TARGET_PROPERTY:TYPE>,EXECUTABLE>:switchboard_tsan_absl_mutex>")
endif()

# Applies the project's warnings to one of its own targets.
function(switchboard_warnings target)
  target_compile_options(${target} PRIVATE ${SWITCHBOARD_WARNING_FLAGS})
endfunction()
