# One entry of CLBENCH_LAYERS ("name=folder,folder") -> its name and its list of folders.
# Included by CMakeLists.txt (the build) and check_layers.cmake (the test).
macro(clbench_layer_parts entry name_var folders_var)
  string(REPLACE "=" ";" _clbench_parts "${entry}")
  list(GET _clbench_parts 0 ${name_var})
  list(GET _clbench_parts 1 ${folders_var})
  string(REPLACE "," ";" ${folders_var} "${${folders_var}}")
endmacro()
