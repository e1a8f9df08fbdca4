# cmake -DCOMPILER=... -DINCLUDES=... -DSNIPPET=file.cpp -P expect_compile_error.cmake
# Passes when SNIPPET compiles as it is, and fails with TROUPE_COMPILE_FAIL defined with exactly
# one error, which contains the text after `// expect: ` in the snippet.
file(STRINGS "${SNIPPET}" expect_lines REGEX "^// expect: ")
list(LENGTH expect_lines count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "${SNIPPET}: needs exactly one '// expect: <message>' line")
endif()
string(REGEX REPLACE "^// expect: " "" expected "${expect_lines}")

set(compile ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDES} ${SNIPPET})

execute_process(COMMAND ${compile} RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SNIPPET} does not compile without TROUPE_COMPILE_FAIL:\n${err}")
endif()

execute_process(COMMAND ${compile} -DTROUPE_COMPILE_FAIL
  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SNIPPET} compiles with TROUPE_COMPILE_FAIL; expected: ${expected}")
endif()
string(FIND "${err}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SNIPPET}: the error does not say '${expected}':\n${err}")
endif()
string(REGEX MATCHALL "error: " errors "${err}")
list(LENGTH errors error_count)
if(NOT error_count EQUAL 1)
  message(FATAL_ERROR "${SNIPPET}: ${error_count} errors, expected the one rule's:\n${err}")
endif()
message(STATUS "${SNIPPET}: fails as expected (${expected})")
