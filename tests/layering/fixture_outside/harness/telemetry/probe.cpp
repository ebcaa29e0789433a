// Fixture: a source file in a folder no layer lists (CMake would never build it).
int probe() {
  return 0;
}
