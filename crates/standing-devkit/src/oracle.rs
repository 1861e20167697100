//! An oracle for the network's fixed point, independent of the graph crate's solvers: Gaussian
//! elimination with partial pivoting, for small graphs.

/// `(a, b, weight units, mutual)`: `a` depends on `b` (and `b` on `a` when mutual).
pub type Relation = (u32, u32, u16, bool);

/// The exact fixed point of `f(s) − α Σ w f(u) / Σ w = (1 − α) b(s)` (or `f(s) = b(s)` without
/// contacts) over `n` subjects, by Gaussian elimination with partial pivoting.
pub fn dense_solve(n: usize, relations: &[Relation], behaviour: &[f64], alpha: f64) -> Vec<f64> {
    let mut weights = vec![vec![0.0f64; n]; n];
    for &(a, b, units, mutual) in relations {
        weights[a as usize][b as usize] += f64::from(units);
        if mutual {
            weights[b as usize][a as usize] += f64::from(units);
        }
    }
    let mut matrix = vec![vec![0.0f64; n + 1]; n];
    for s in 0..n {
        let total: f64 = weights[s].iter().sum();
        matrix[s][s] = 1.0;
        if total == 0.0 {
            matrix[s][n] = behaviour[s];
        } else {
            for u in 0..n {
                matrix[s][u] -= alpha * weights[s][u] / total;
            }
            matrix[s][n] = (1.0 - alpha) * behaviour[s];
        }
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| matrix[x][col].abs().total_cmp(&matrix[y][col].abs()))
            .unwrap_or(col);
        matrix.swap(col, pivot);
        for row in 0..n {
            if row != col {
                let factor = matrix[row][col] / matrix[col][col];
                if factor != 0.0 {
                    let pivot_row = matrix[col].clone();
                    for (cell, pivot) in matrix[row].iter_mut().zip(&pivot_row).skip(col) {
                        *cell -= factor * pivot;
                    }
                }
            }
        }
    }
    (0..n).map(|s| matrix[s][n] / matrix[s][s]).collect()
}
