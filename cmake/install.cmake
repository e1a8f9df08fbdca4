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
  list(APPEND troupe_installed_targets troupe_messages)
endif()
install(TARGETS ${troupe_installed_targets} EXPORT troupeTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
# The public headers (troupe_public_headers in each folder) and troupe's .proto files, which
# users' own .proto files may import.
get_property(troupe_headers GLOBAL PROPERTY TROUPE_PUBLIC_HEADERS)
foreach(header IN LISTS troupe_headers)
  get_filename_component(folder "${header}" DIRECTORY)
  install(FILES "${header}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/troupe/${folder}")
endforeach()
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
