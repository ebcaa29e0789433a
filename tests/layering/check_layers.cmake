# Checks that no file of a layer includes a file of a higher layer, and that every source file
# outside tests/ and bench/ belongs to a layer (a file in an unlisted folder would not be built).
#   cmake -DROOT=<tree> -DLAYERS="name=folder,folder;..." -P check_layers.cmake
# LAYERS lists the layers from the lowest up (CMakeLists.txt's CLBENCH_LAYERS). A file belongs to the
# layer of the deepest listed folder that holds it, sub-folders included; includes of files outside
# every layer (tests, bench) are allowed. Prints every violation and fails if there is one.
if(NOT DEFINED ROOT OR NOT DEFINED LAYERS)
  message(FATAL_ERROR "usage: cmake -DROOT=<tree> -DLAYERS=<name=folders;...> -P check_layers.cmake")
endif()

include(${CMAKE_CURRENT_LIST_DIR}/layers.cmake)
set(rank 0)
set(folders_all "")
foreach(entry IN LISTS LAYERS)
  clbench_layer_parts("${entry}" name folders)
  foreach(folder IN LISTS folders)
    set(layer_of_${folder} ${name})
    set(rank_of_${folder} ${rank})
    list(APPEND folders_all ${folder})
  endforeach()
  math(EXPR rank "${rank} + 1")
endforeach()

# The listed folder that holds `path` (relative to ROOT), the deepest if several do; "" if none.
function(folder_holding path out)
  set(best "")
  foreach(folder IN LISTS folders_all)
    string(LENGTH "${folder}/" n)
    string(SUBSTRING "${path}" 0 ${n} head)
    string(LENGTH "${best}" best_n)
    if(head STREQUAL "${folder}/" AND n GREATER best_n)
      set(best ${folder})
    endif()
  endforeach()
  set(${out} "${best}" PARENT_SCOPE)
endfunction()

set(violations 0)
set(checked 0)
# Every source file of the tree but tests, benchmarks, build folders and hidden ones (.venv).
file(GLOB tops LIST_DIRECTORIES true RELATIVE ${ROOT} ${ROOT}/*)
set(files "")
foreach(top IN LISTS tops)
  if(top MATCHES "^(tests|bench|build.*|\\..*)$" OR NOT IS_DIRECTORY ${ROOT}/${top})
    continue()
  endif()
  file(GLOB_RECURSE found RELATIVE ${ROOT} ${ROOT}/${top}/*.h ${ROOT}/${top}/*.cpp)
  list(APPEND files ${found})
endforeach()
foreach(relative IN LISTS files)
  folder_holding("${relative}" folder)
  if(folder STREQUAL "")
    message("${relative} is outside every layer: it would not be built; move it into a layer's "
      "folder or add its folder to CLBENCH_LAYERS in CMakeLists.txt")
    math(EXPR violations "${violations} + 1")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  file(STRINGS ${ROOT}/${relative} includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"[^\"]+\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" included "${line}")
    folder_holding("${included}" included_folder)
    if(NOT included_folder STREQUAL "" AND
       rank_of_${included_folder} GREATER rank_of_${folder})
      message("${relative} (${layer_of_${folder}}) includes ${included} "
        "(${layer_of_${included_folder}}), a higher layer")
      math(EXPR violations "${violations} + 1")
    endif()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "no layer files found under ${ROOT}")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "${violations} violation(s) of the layers (${LAYERS})")
endif()
message("layering: ${checked} files, every include goes to the same or a lower layer")
