# troupe_protobuf_generate(TARGET <target> IMPORT_ROOT <dir> PROTOS <files...>
#                          [IMPORT_DIRS <dirs...>] [OUT_DIR <dir>])
#
# Compiles .proto files to C++ and adds the generated sources to <target>. A proto is named by
# its path relative to IMPORT_ROOT: that is how other .proto files import it and how its header
# is included ("troupe/messages/flow.proto" -> "troupe/messages/flow.pb.h"). The generated files
# land under OUT_DIR (default: <binary dir>/gen) with the same relative path; <target> gets
# OUT_DIR as a public include directory. IMPORT_DIRS are further roots for imports, e.g. an
# installed troupe's include directory.
#
# (CMake 3.25's protobuf_generate derives output paths from the current source directory, which
# cannot express import paths rooted elsewhere; this function calls protoc directly.)
function(troupe_protobuf_generate)
  cmake_parse_arguments(arg "" "TARGET;IMPORT_ROOT;OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT arg_OUT_DIR)
    set(arg_OUT_DIR "${CMAKE_CURRENT_BINARY_DIR}/gen")
  endif()
  get_filename_component(root "${arg_IMPORT_ROOT}" ABSOLUTE)
  set(import_flags -I "${root}")
  foreach(dir IN LISTS arg_IMPORT_DIRS)
    list(APPEND import_flags -I "${dir}")
  endforeach()
  file(MAKE_DIRECTORY "${arg_OUT_DIR}")
  foreach(proto IN LISTS arg_PROTOS)
    get_filename_component(abs "${proto}" ABSOLUTE)
    file(RELATIVE_PATH rel "${root}" "${abs}")
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outputs "${arg_OUT_DIR}/${stem}.pb.h" "${arg_OUT_DIR}/${stem}.pb.cc")
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND protobuf::protoc --cpp_out=${arg_OUT_DIR} ${import_flags} "${abs}"
      DEPENDS "${abs}" protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    target_sources(${arg_TARGET} PRIVATE ${outputs})
  endforeach()
  target_include_directories(${arg_TARGET} PUBLIC $<BUILD_INTERFACE:${arg_OUT_DIR}>)
  target_link_libraries(${arg_TARGET} PUBLIC protobuf::libprotobuf)
endfunction()
