// LD_PRELOAD shim for the CPU-kernel tests: MKL's two vendor checks answer "Intel", so an AMD
// machine takes the branches MKL runs on an Intel Xeon (MKL_CBWR=AVX2 then runs the AVX2 branch
// instead of AUTO). The tests compare a process under it with one without: what an Intel machine
// would compute, on the machine at hand. On an Intel machine it changes nothing.
extern "C" {
int mkl_serv_intel_cpu_true() {
  return 1;
}
int mkl_serv_intel_cpu() {
  return 1;
}
}
