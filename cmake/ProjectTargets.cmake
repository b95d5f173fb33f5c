# Helpers shared by every component.

# acme_signer_library(NAME SOURCES ... DEPS ...)
# A static library with the project's warnings, rooted include path (#include "hsm/module.h").
function(acme_signer_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${ACME_SIGNER_WARNINGS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# acme_signer_test(SOURCE_FILE DEPS ... [LABELS ...] [TIMEOUT seconds])
# One GoogleTest binary per test file, named after the file, registered with CTest.
# Tests are registered per binary (not per case) so CTest starts each SoftHSM2/Pebble
# fixture once.
function(acme_signer_test source)
  cmake_parse_arguments(ARG "" "TIMEOUT" "DEPS;LABELS" ${ARGN})
  get_filename_component(test_name ${source} NAME_WE)
  add_executable(${test_name} ${source})
  target_compile_options(${test_name} PRIVATE ${ACME_SIGNER_WARNINGS})
  target_link_libraries(${test_name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest GTest::gtest_main)
  add_test(NAME ${test_name} COMMAND ${test_name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${test_name} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
