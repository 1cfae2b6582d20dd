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

if(SWITCHBOARD_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Applies the project's warnings to one of its own targets.
function(switchboard_warnings target)
  target_compile_options(${target} PRIVATE ${SWITCHBOARD_WARNING_FLAGS})
endfunction()
