# Installs troupe as a CMake package: find_package(troupe) then link troupe::troupe.
# Headers keep their in-tree spelling: include/troupe/{actors,messages,nodes}/..., generated
# Protobuf headers next to their .proto files.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TROUPE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/troupe")

install(TARGETS troupe troupe_messages EXPORT troupeTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(DIRECTORY actors messages nodes
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/troupe"
  FILES_MATCHING PATTERN "*.hpp" PATTERN "*.proto")
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
