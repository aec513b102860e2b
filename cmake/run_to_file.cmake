# Runs CMD with ARGS (a list) and writes its standard output to OUT; fails when CMD does.
# For build steps whose output is a file, without relying on shell redirection.
cmake_minimum_required(VERSION 3.18)
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
execute_process(COMMAND ${CMD} ${ARGS} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "'${CMD} ${ARGS}' failed (${rc})")
endif()
file(RENAME ${OUT}.tmp ${OUT})
