"""The peer in the graph benchmark: scipy's CSR matrix-vector product iterating f = c + M f
on the same graph, written by the Rust benchmark as raw little-endian arrays."""
import sys, time
import numpy as np
import scipy.sparse as sp

directory, iterations, epsilon, alpha = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
offsets = np.fromfile(f"{directory}/offsets.u64", dtype="<u8").astype(np.int64)
columns = np.fromfile(f"{directory}/columns.u32", dtype="<u4").astype(np.int32)
values = np.fromfile(f"{directory}/values.f64", dtype="<f8")
constant = np.fromfile(f"{directory}/constant.f64", dtype="<f8")
n = len(constant)
matrix = sp.csr_matrix((values, columns, offsets), shape=(n, n))
f = constant.copy()
# Start from the behaviour scores, as the Rust solve does: f0 = b.
f = np.fromfile(f"{directory}/behaviour.f64", dtype="<f8")
start = time.perf_counter()
for _ in range(iterations):
    f = constant + matrix @ f
seconds = time.perf_counter() - start
reference = np.fromfile(f"{directory}/solution.f64", dtype="<f8")
print(f"{seconds / iterations / matrix.nnz * 1e9:.3f} {np.abs(f - reference).max():.6f}")
