# Installs troupe as a CMake package: find_package(troupe) then link troupe::troupe.
# Headers keep their in-tree spelling: include/troupe/{actors,messages,nodes}/..., generated
# Protobuf headers next to their .proto files. Only the public headers are installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TROUPE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/troupe")

# A static troupe carries its private dependencies into the export (and troupeConfig does not
# find them for you): the package is meant to be installed shared.
set(troupe_installed_targets troupe)
if(NOT TROUPE_SHARED)
  list(APPEND troupe_installed_targets troupe_messages troupe_ipc_messages)
endif()
install(TARGETS ${troupe_installed_targets} EXPORT troupeTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
# The installed headers are the public API: the umbrella header troupe.hpp and every troupe
# header it reaches through #include "troupe/..." lines (detail/ folders among them: what public
# templates need, not API). A header no public one includes is internal and stays out of the
# package; the install test checks that no installed header pulls in a private dependency.
set(pending troupe.hpp)
set(troupe_headers "")
while(pending)
  list(POP_FRONT pending header)
  if(header IN_LIST troupe_headers)
    continue()
  endif()
  list(APPEND troupe_headers "${header}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${header}")
  file(STRINGS "${PROJECT_SOURCE_DIR}/${header}" includes REGEX "^#include \"troupe/")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^#include \"troupe/([^\"]+)\".*" "\\1" included "${line}")
    if(NOT included MATCHES "\\.pb\\.h$")  # generated: installed below
      list(APPEND pending "${included}")
    endif()
  endforeach()
endwhile()
foreach(header IN LISTS troupe_headers)
  get_filename_component(folder "${header}" DIRECTORY)
  install(FILES "${header}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/troupe/${folder}")
endforeach()
# troupe's .proto files, which users' own .proto files may import.
install(DIRECTORY messages
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/troupe"
  FILES_MATCHING PATTERN "*.proto")
install(DIRECTORY "${TROUPE_GEN_DIR}/troupe/messages"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/troupe"
  FILES_MATCHING PATTERN "*.pb.h")
install(EXPORT troupeTargets NAMESPACE troupe:: DESTINATION "${TROUPE_CMAKE_DIR}")

configure_package_config_file(cmake/troupeConfig.cmake.in
  "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
  INSTALL_DESTINATION "${TROUPE_CMAKE_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/troupeConfig.cmake"
  "${PROJECT_BINARY_DIR}/troupeConfigVersion.cmake"
  cmake/FindCAF.cmake
  cmake/TroupeProtobuf.cmake
  DESTINATION "${TROUPE_CMAKE_DIR}")
