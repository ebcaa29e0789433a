# One ctest test per group of GoogleTest tests instead of one per test: each test process loads
# LibTorch (about 0.4 s), which for the 500 small conformance cases cost more than the cases.
# A group is a test suite, or a parameterised test with all its parameters
# ("Registered/Conformance.Check/*"). Included by ctest (TEST_INCLUDE_FILES) with BINARY, PREFIX
# and PROPERTIES set; lists the binary's tests when ctest starts, so new tests need no cmake run.
execute_process(COMMAND "${BINARY}" --gtest_list_tests OUTPUT_VARIABLE listing
  RESULT_VARIABLE listed ERROR_VARIABLE errors)
if(NOT listed EQUAL 0)
  add_test("${PREFIX}listing" "${BINARY}" --gtest_list_tests)  # fails, with the binary's message
  return()
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(groups "")
set(suite "")
foreach(line IN LISTS lines)
  if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
    set(suite "${CMAKE_MATCH_1}")
  elseif(line MATCHES "^  ([^ #]+)" AND suite)
    set(test "${CMAKE_MATCH_1}")
    if(test MATCHES "^([^/]+)/")  # a parameterised test: all its parameters together
      set(group "${suite}.${CMAKE_MATCH_1}")
      set(filter "${suite}.${CMAKE_MATCH_1}/*")
    else()
      set(group "${suite}")
      set(filter "${suite}.*")
    endif()
    list(FIND groups "${group}" seen)
    if(seen EQUAL -1)
      list(APPEND groups "${group}")
      add_test("${PREFIX}${group}" "${BINARY}" "--gtest_filter=${filter}")
      set_tests_properties("${PREFIX}${group}" PROPERTIES ${PROPERTIES})
    endif()
    string(MAKE_C_IDENTIFIER "${group}" id)
    math(EXPR cases_${id} "${cases_${id}}+0+1")
  endif()
endforeach()
# Without timings of an earlier run (a clean checkout), ctest starts the groups with the most
# cases first, so the 90-case conformance groups do not end up as the last ones running.
foreach(group IN LISTS groups)
  string(MAKE_C_IDENTIFIER "${group}" id)
  set_tests_properties("${PREFIX}${group}" PROPERTIES COST ${cases_${id}})
endforeach()
