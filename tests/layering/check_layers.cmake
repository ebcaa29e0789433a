# Checks that no file of a layer includes a file of a higher layer.
#   cmake -DROOT=<tree> -DLAYERS="name=folder,folder;..." -P check_layers.cmake
# LAYERS lists the layers from the lowest up (CMakeLists.txt's CLBENCH_LAYERS). A file belongs to the
# layer whose folder holds it directly; files outside every layer (tests, bench) are not checked,
# and includes of such files are allowed. Prints every violation and fails if there is one.
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

set(violations 0)
set(checked 0)
foreach(folder IN LISTS folders_all)
  file(GLOB files ${ROOT}/${folder}/*.h ${ROOT}/${folder}/*.cpp)
  foreach(file IN LISTS files)
    math(EXPR checked "${checked} + 1")
    file(RELATIVE_PATH relative ${ROOT} ${file})
    file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"[^\"]+\"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" included "${line}")
      get_filename_component(included_folder ${included} DIRECTORY)
      if(DEFINED rank_of_${included_folder} AND
         rank_of_${included_folder} GREATER rank_of_${folder})
        message("${relative} (${layer_of_${folder}}) includes ${included} "
          "(${layer_of_${included_folder}}), a higher layer")
        math(EXPR violations "${violations} + 1")
      endif()
    endforeach()
  endforeach()
endforeach()

if(checked EQUAL 0)
  message(FATAL_ERROR "no layer files found under ${ROOT}")
endif()
if(violations GREATER 0)
  message(FATAL_ERROR "${violations} include(s) of a higher layer (layers: ${LAYERS})")
endif()
message("layering: ${checked} files, every include goes to the same or a lower layer")
