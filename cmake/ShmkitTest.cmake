# SPDX-License-Identifier: MIT
# shmkit_test(NAME SOURCES... LABELS l... TIMEOUT s [LIBS l...] [ARGS a...])
# builds one executable per test file and registers it as shmkit.<label>.<name>.
# Exit code 77 means "skipped" (missing privilege or kernel feature).
function(shmkit_test name)
	cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;LIBS;ARGS" ${ARGN})
	list(GET T_LABELS 0 _first)
	set(_exe test_${_first}_${name})
	add_executable(${_exe} ${T_SOURCES})
	target_link_libraries(${_exe} PRIVATE shmkit_testing shmkit_harness ${T_LIBS})
	set_target_properties(${_exe} PROPERTIES
		RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
	add_test(NAME shmkit.${_first}.${name} COMMAND ${_exe} ${T_ARGS})
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 60)
	endif()
	set_tests_properties(shmkit.${_first}.${name} PROPERTIES
		LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()

# shmkit_script_test(NAME SCRIPT LABELS l... TIMEOUT s): a shell script under
# CTest, given the build's bin directory as SHMKIT_BIN.
function(shmkit_script_test name script)
	cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
	list(GET T_LABELS 0 _first)
	add_test(NAME shmkit.${_first}.${name} COMMAND sh ${script})
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 120)
	endif()
	set_tests_properties(shmkit.${_first}.${name} PROPERTIES
		LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77
		ENVIRONMENT "SHMKIT_BIN=${PROJECT_BINARY_DIR}/bin;SHMKIT_SRC=${PROJECT_SOURCE_DIR};SHMKIT_BUILD=${PROJECT_BINARY_DIR}")
endfunction()
