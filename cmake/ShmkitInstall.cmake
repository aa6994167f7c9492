# SPDX-License-Identifier: MIT
# Installation: libraries, headers, pkg-config file, CMake package, man pages.
include(CMakePackageConfigHelpers)

install(TARGETS shmkit shmkit_static EXPORT shmkitTargets
	LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
	ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
	RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
	INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/shmkit
	DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
	FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/shmkit/version.h
	DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/shmkit)

install(EXPORT shmkitTargets NAMESPACE shmkit::
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmkit)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/shmkitConfig.cmake.in
	${PROJECT_BINARY_DIR}/shmkitConfig.cmake
	INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmkit)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/shmkitConfigVersion.cmake
	COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/shmkitConfig.cmake
	${PROJECT_BINARY_DIR}/shmkitConfigVersion.cmake
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/shmkit)

configure_file(${PROJECT_SOURCE_DIR}/cmake/shmkit.pc.in
	${PROJECT_BINARY_DIR}/shmkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/shmkit.pc
	DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(EXISTS ${PROJECT_SOURCE_DIR}/man/CMakeLists.txt)
	add_subdirectory(man)
endif()
