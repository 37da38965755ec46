"""Analytic neutrino solutions of Betchart, Demina and Harel (arXiv:1305.1878).

Read top to bottom against the paper:

1. :func:`neutrino_ellipse` — §2 ("Derivation"). For one top, t → b ℓ ν, the
   mass constraints m_W² = (ℓ + ν)² and m_t² = (b + ℓ + ν)² confine ν to an
   ellipse, ν(t) = H · (cos t, sin t, 1)ᵀ. In the frame F where ℓ points
   along x and b lies in the x–y plane (y > 0) the paper writes H̃ with

       x₀' = −(m_t² − m_W² − m_b²) / 2E_b,     x₀ = −(m_W² − m_ℓ² − m_ν²) / 2E_ℓ,
       S_x = (x₀ β_ℓ − p_ℓ (1 − β_ℓ²)) / β_ℓ²,  S_y = (x₀'/β_b − c S_x) / s,
       ω = (β_ℓ/β_b − c) / s,   Ω² = ω² + 1 − β_ℓ²,   ε² = (m_W² − m_ν²)(1 − β_ℓ²),
       x₁ = S_x − (S_x + ω S_y)/Ω²,   y₁ = S_y − ω (S_x + ω S_y)/Ω²,
       Z² = x₁² Ω² − (S_y − ω S_x)² − (m_W² − x₀² − ε²),

       H̃ = [[Z/Ω, 0, x₁ − p_ℓ], [ωZ/Ω, 0, y₁], [0, Z, 0]],

   with c, s the cosine and sine of the b–ℓ opening angle, β = p/E, and the
   b and lepton masses kept (m_ν = 0). H = R_T H̃, R_T the rotation F → lab.
   Z² < 0 means no ν satisfies both constraints: like the reference code
   (betchart/analytic-nu) we clamp Z = 0, which shrinks the ellipse to the
   single point (x₁ − p_ℓ, y₁, 0) of F; ``ok`` reports Z² ≥ 0.

2. :func:`single_neutrino` — §3 (one leptonic top). The ν is the point of its
   ellipse closest to the MET under the MET covariance Σ: with Δ = V₀ − H
   (V₀ carries the MET in its last column) χ²(t) = τᵀ X τ, X = Δᵀ S Δ, S the
   inverse covariance padded to 3×3. The stationary points solve τᵀ M τ = 0,
   M = X D + (X D)ᵀ (D differentiates τ = (cos t, sin t, 1)): the
   intersections of the conic M with the unit circle. We keep the smallest χ².

3. :func:`dilepton_neutrinos` — §4 (two leptonic tops). In the transverse
   plane each ellipse is the conic N = H⊥⁻ᵀ U H⊥⁻¹ (H⊥: H with its last row
   replaced by (0, 0, 1); U = diag(1, 1, −1) the unit circle). The ν̄ ellipse is
   mapped into ν⊥ space through ν̄⊥ = MET − ν⊥, n̄ = Γᵀ N̄ Γ with
   Γ = [[−1, 0, MET_x], [0, −1, MET_y], [0, 0, 1]]; the solutions are the 0, 2
   or 4 real intersections of N and n̄, found as in §4 by reducing a
   degenerate member N̄ − λN of the pencil to a pair of lines
   (:func:`intersect_conics`). A top whose ellipse was clamped to a point has
   no conic (H⊥ is singular; the reference code raises there): that pairing
   has no solution, except through the optional closest approach.

Numerics: every event is solved in units of its top-mass assumption; conics are
normalised; each intersection point is polished by Newton's method on both
conics and accepted only if it lies on both, so the solver returns exactly the
real intersections (tangencies count once). Both b ↔ lepton pairings are
solved and one solution is chosen by the smallest m_tt (documented in
:func:`dilepton_neutrinos`).
"""

from __future__ import annotations

import numba
import numpy as np

from baselines.guards import usable_momenta

COLLINEAR_SINE = 1e-9
"""Below this sine of the b–ℓ angle the frame F (and the ellipse) is undefined."""

POINT_TOLERANCE = 1e-9
"""Largest residual of a normalised conic (per unit of 1 + |p|²) at an accepted intersection."""

_UNIT_CIRCLE = np.diag(np.array([1.0, 1.0, -1.0]))
"""U: the unit circle x² + y² − 1 = 0 as a conic."""
_DERIVATIVE = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
"""D: d/dt of τ = (cos t, sin t, 1) is D τ."""


# --- small linear algebra on 3×3 matrices --------------------------------------------------


@numba.njit(cache=True)
def _det3(m: np.ndarray) -> float:
    return (
        m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
        - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
        + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    )


@numba.njit(cache=True)
def _adjugate3(m: np.ndarray) -> np.ndarray:
    """adj(M), so that M adj(M) = det(M) 1 (defined also for singular M)."""
    a = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            r0, r1 = (j + 1) % 3, (j + 2) % 3
            c0, c1 = (i + 1) % 3, (i + 2) % 3
            a[i, j] = m[r0, c0] * m[r1, c1] - m[r0, c1] * m[r1, c0]
    return a


@numba.njit(cache=True)
def _normalised(m: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.sum(m * m))
    return m / norm if norm > 0.0 else m.copy()


@numba.njit(cache=True)
def _quad_form(c: np.ndarray, x: float, y: float) -> float:
    """pᵀ C p for the homogeneous point p = (x, y, 1)."""
    return (
        c[0, 0] * x * x
        + 2.0 * c[0, 1] * x * y
        + c[1, 1] * y * y
        + 2.0 * (c[0, 2] * x + c[1, 2] * y)
        + c[2, 2]
    )


# --- §2: the ellipse of one top --------------------------------------------------------------


@numba.njit(cache=True)
def neutrino_ellipse(
    b: np.ndarray, lepton: np.ndarray, top_mass: float, w_mass: float
) -> tuple[np.ndarray, bool, bool]:
    """(H, ok, defined) of the top t → b ℓ ν (four-vectors (px, py, pz, E)).

    ``H`` maps τ = (cos t, sin t, 1) to the lab ν momentum. ``ok`` is False
    where Z² < 0 (Z clamped to 0, H a single point); ``defined`` is False
    where the frame does not exist (b or ℓ at rest, b ∥ ℓ), H then zero.
    """
    h = np.zeros((3, 3))
    p_b = np.sqrt(b[0] ** 2 + b[1] ** 2 + b[2] ** 2)
    p_l = np.sqrt(lepton[0] ** 2 + lepton[1] ** 2 + lepton[2] ** 2)
    if p_b <= 0.0 or p_l <= 0.0:
        return h, False, False
    e_l = lepton / p_l
    e_b = b / p_b
    c = e_l[0] * e_b[0] + e_l[1] * e_b[1] + e_l[2] * e_b[2]
    s = np.sqrt(max(0.0, 1.0 - c * c))
    if s < COLLINEAR_SINE:
        return h, False, False
    energy_b, energy_l = max(b[3], p_b), max(lepton[3], p_l)  # rounding never makes β > 1
    m_b2 = energy_b**2 - p_b**2
    m_l2 = energy_l**2 - p_l**2
    beta_b, beta_l = p_b / energy_b, p_l / energy_l
    mt2, mw2 = top_mass * top_mass, w_mass * w_mass

    x0p = -(mt2 - mw2 - m_b2) / (2.0 * energy_b)
    x0 = -(mw2 - m_l2) / (2.0 * energy_l)
    s_x = (x0 * beta_l - p_l * (1.0 - beta_l**2)) / beta_l**2
    s_y = (x0p / beta_b - c * s_x) / s
    omega = (beta_l / beta_b - c) / s
    omega2 = omega**2 + 1.0 - beta_l**2
    if omega2 <= 0.0:  # massless lepton with ω = 0: the ellipse's parametrisation degenerates
        return h, False, False
    eps2 = mw2 * (1.0 - beta_l**2)
    x1 = s_x - (s_x + omega * s_y) / omega2
    y1 = s_y - (s_x + omega * s_y) * omega / omega2
    z2 = x1**2 * omega2 - (s_y - omega * s_x) ** 2 - (mw2 - x0**2 - eps2)
    z = np.sqrt(max(0.0, z2))
    big_omega = np.sqrt(omega2)

    h_tilde = np.zeros((3, 3))
    h_tilde[0, 0] = z / big_omega
    h_tilde[1, 0] = omega * z / big_omega
    h_tilde[2, 1] = z
    h_tilde[0, 2] = x1 - p_l
    h_tilde[1, 2] = y1

    # R_T: columns are F's axes in the lab: ℓ̂, the part of b̂ orthogonal to ℓ̂, their cross product
    rotation = np.empty((3, 3))
    for k in range(3):
        rotation[k, 0] = e_l[k]
        rotation[k, 1] = (e_b[k] - c * e_l[k]) / s
    rotation[0, 2] = rotation[1, 0] * rotation[2, 1] - rotation[2, 0] * rotation[1, 1]
    rotation[1, 2] = rotation[2, 0] * rotation[0, 1] - rotation[0, 0] * rotation[2, 1]
    rotation[2, 2] = rotation[0, 0] * rotation[1, 1] - rotation[1, 0] * rotation[0, 1]
    return rotation @ h_tilde, z2 >= 0.0, True


@numba.njit(cache=True)
def _transverse(h: np.ndarray) -> np.ndarray:
    """H⊥: H with its last row replaced by (0, 0, 1), mapping τ to (ν_x, ν_y, 1)."""
    hp = h.copy()
    hp[2, 0], hp[2, 1], hp[2, 2] = 0.0, 0.0, 1.0
    return hp


@numba.njit(cache=True)
def transverse_conic(h: np.ndarray) -> np.ndarray:
    """N ∝ H⊥⁻ᵀ U H⊥⁻¹, the ν⊥ ellipse as a conic (via the adjugate: no division)."""
    adj = _adjugate3(_transverse(h))
    return _normalised(adj.T @ _UNIT_CIRCLE @ adj)


# --- §4: intersection of two conics via a degenerate member of their pencil --------------------


@numba.njit(cache=True)
def _real_cubic_roots(c3: float, c2: float, c1: float, c0: float) -> np.ndarray:
    """Real roots of c3 λ³ + c2 λ² + c1 λ + c0, Newton-polished (quadratic if c3 = 0)."""
    scale = max(abs(c3), abs(c2), abs(c1), abs(c0))
    roots = np.empty(3)
    count = 0
    if scale == 0.0:
        return roots[:0]
    if abs(c3) <= 1e-12 * scale:
        if abs(c2) <= 1e-12 * scale:
            if c1 != 0.0:
                roots[0] = -c0 / c1
                count = 1
        else:
            disc = c1 * c1 - 4.0 * c2 * c0
            if disc >= 0.0:
                q = -0.5 * (c1 + np.copysign(np.sqrt(disc), c1))
                roots[0] = q / c2
                roots[1] = c0 / q if q != 0.0 else roots[0]
                count = 2
    else:
        a, b, c = c2 / c3, c1 / c3, c0 / c3
        p = b - a * a / 3.0
        q = 2.0 * a**3 / 27.0 - a * b / 3.0 + c
        disc = (q / 2.0) ** 2 + (p / 3.0) ** 3
        if disc > 0.0:
            root = np.sqrt(disc)
            roots[0] = np.cbrt(-q / 2.0 + root) + np.cbrt(-q / 2.0 - root) - a / 3.0
            count = 1
        else:
            r = np.sqrt(-p / 3.0)
            arg = -q / (2.0 * r**3) if r > 0.0 else 0.0
            phi = np.arccos(min(1.0, max(-1.0, arg))) / 3.0
            for k in range(3):
                roots[k] = 2.0 * r * np.cos(phi - 2.0 * np.pi * k / 3.0) - a / 3.0
            count = 3
    for k in range(count):  # polish against the rounding of the closed forms
        x = roots[k]
        for _ in range(2):
            f = ((c3 * x + c2) * x + c1) * x + c0
            df = (3.0 * c3 * x + 2.0 * c2) * x + c1
            if df == 0.0:
                break
            x -= f / df
        roots[k] = x
    return roots[:count]


@numba.njit(cache=True)
def _split_degenerate(g: np.ndarray) -> tuple[np.ndarray, int]:
    """The real lines (rows (a, b, c): a x + b y + c = 0) whose pair is the degenerate conic G.

    For G = l mᵀ + m lᵀ, adj(G) = −p pᵀ with p = l × m the lines' meeting
    point (known up to sign from a column of adj(G)); G ± [p]× is 2 l mᵀ or
    2 m lᵀ, of rank one, and gives l and m as a row and a column. A positive
    diagonal of adj(G) means complex conjugate lines (no real intersections);
    a vanishing adj(G) a double line.
    """
    lines = np.zeros((2, 3))
    g = _normalised(g)
    adj = _adjugate3(g)
    i = 0
    for k in range(1, 3):
        if abs(adj[k, k]) > abs(adj[i, i]):
            i = k
    if abs(adj[i, i]) <= 1e-14:
        k = 0
        for j in range(1, 3):
            if abs(g[j, j]) > abs(g[k, k]):
                k = j
        if g[k, k] == 0.0:
            return lines, 0
        lines[0] = g[k] / np.sqrt(abs(g[k, k]))
        return lines, 1
    if adj[i, i] > 0.0:
        return lines, 0
    beta = np.sqrt(-adj[i, i])
    p = adj[:, i] / beta
    m = g.copy()
    m[0, 1] -= p[2]
    m[0, 2] += p[1]
    m[1, 0] += p[2]
    m[1, 2] -= p[0]
    m[2, 0] -= p[1]
    m[2, 1] += p[0]
    r, c = 0, 0
    for j in range(3):
        for k in range(3):
            if abs(m[j, k]) > abs(m[r, c]):
                r, c = j, k
    lines[0] = m[r, :]
    lines[1] = m[:, c]
    return lines, 2


@numba.njit(cache=True)
def _line_conic_points(a: np.ndarray, line: np.ndarray, out: np.ndarray, count: int) -> int:
    """Append the real points of line ∩ conic A to ``out`` (rows x, y); returns the new count."""
    norm2 = line[0] ** 2 + line[1] ** 2
    if norm2 == 0.0:
        return count
    norm = np.sqrt(norm2)
    x0, y0 = -line[2] * line[0] / norm2, -line[2] * line[1] / norm2
    dx, dy = -line[1] / norm, line[0] / norm
    qa = a[0, 0] * dx * dx + 2.0 * a[0, 1] * dx * dy + a[1, 1] * dy * dy
    qb = (a[0, 0] * x0 + a[0, 1] * y0 + a[0, 2]) * dx + (a[0, 1] * x0 + a[1, 1] * y0 + a[1, 2]) * dy
    qc = _quad_form(a, x0, y0)
    disc = qb * qb - qa * qc
    if disc < 0.0:
        if disc < -1e-9 * (qb * qb + abs(qa * qc)):
            return count
        disc = 0.0
    if qa == 0.0:
        if qb == 0.0:
            return count
        step = -qc / (2.0 * qb)
        out[count, 0], out[count, 1] = x0 + step * dx, y0 + step * dy
        return count + 1
    root = np.sqrt(disc)
    q = -(qb + np.copysign(root, qb))
    first = q / qa
    second = qc / q if q != 0.0 else first
    out[count, 0], out[count, 1] = x0 + first * dx, y0 + first * dy
    out[count + 1, 0], out[count + 1, 1] = x0 + second * dx, y0 + second * dy
    return count + 2


@numba.njit(cache=True)
def _polish(a: np.ndarray, b: np.ndarray, x: float, y: float) -> tuple[float, float, bool]:
    """Newton's method on (pᵀAp, pᵀBp) = 0; True where the point lies on both conics."""
    tolerance = POINT_TOLERANCE * (1.0 + x * x + y * y)
    for _ in range(4):
        fa, fb = _quad_form(a, x, y), _quad_form(b, x, y)
        if abs(fa) < 1e-6 * tolerance and abs(fb) < 1e-6 * tolerance:
            break
        ja0 = 2.0 * (a[0, 0] * x + a[0, 1] * y + a[0, 2])
        ja1 = 2.0 * (a[0, 1] * x + a[1, 1] * y + a[1, 2])
        jb0 = 2.0 * (b[0, 0] * x + b[0, 1] * y + b[0, 2])
        jb1 = 2.0 * (b[0, 1] * x + b[1, 1] * y + b[1, 2])
        det = ja0 * jb1 - ja1 * jb0
        if abs(det) <= 1e-12 * (ja0 * ja0 + ja1 * ja1 + jb0 * jb0 + jb1 * jb1):
            break  # tangency: Newton is ill-posed, keep the point as found
        x -= (jb1 * fa - ja1 * fb) / det
        y -= (-jb0 * fa + ja0 * fb) / det
        tolerance = POINT_TOLERANCE * (1.0 + x * x + y * y)
    return x, y, abs(_quad_form(a, x, y)) < tolerance and abs(_quad_form(b, x, y)) < tolerance


@numba.njit(cache=True)
def intersect_conics(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(k, 2) real intersection points (k = 0…4) of the conics A and B (symmetric 3×3).

    Every real root λ of det(B − λA) = 0 (a cubic) gives a degenerate conic
    B − λA of the pencil, which passes through all intersections; it is
    split into two lines, each line is intersected with A, and the points
    are polished on both conics, kept if they lie on both, and de-duplicated.
    Using every real root (not just one, as the paper's algorithm may) makes
    the result robust where a line pair is ill-conditioned.
    """
    a = _normalised(a)
    b = _normalised(b)
    if abs(_det3(b)) > abs(_det3(a)):
        a, b = b, a
    adj_a, adj_b = _adjugate3(a), _adjugate3(b)
    # det(B − λA) = det B − λ tr(adj(B) A) + λ² tr(adj(A) B) − λ³ det A
    lambdas = _real_cubic_roots(-_det3(a), np.sum(adj_a.T * b), -np.sum(adj_b.T * a), _det3(b))
    candidates = np.empty((4, 2))
    points = np.empty((4, 2))
    n_points = 0
    for lam in lambdas:
        lines, n_lines = _split_degenerate(b - lam * a)
        count = 0
        for k in range(n_lines):
            count = _line_conic_points(a, lines[k], candidates, count)
        for k in range(count):
            x, y, on_both = _polish(a, b, candidates[k, 0], candidates[k, 1])
            if not on_both:
                continue
            duplicate = False
            for j in range(n_points):
                if abs(points[j, 0] - x) + abs(points[j, 1] - y) < 1e-6 * (1.0 + abs(x) + abs(y)):
                    duplicate = True
            if not duplicate and n_points < 4:
                points[n_points, 0], points[n_points, 1] = x, y
                n_points += 1
        if n_points == 4:  # two conics meet at most four times
            break
    return points[:n_points]


@numba.njit(cache=True)
def _lift(h: np.ndarray, x: float, y: float) -> np.ndarray:
    """The ν on ellipse H whose transverse momentum is (x, y): H τ with τ = H⊥⁻¹ (x, y, 1)."""
    tau = _adjugate3(_transverse(h)) @ np.array([x, y, 1.0])
    if tau[2] == 0.0:
        return np.full(3, np.nan)
    return h @ (tau / tau[2])


@numba.njit(cache=True)
def _pair_mass(
    b: np.ndarray,
    lepton: np.ndarray,
    nu: np.ndarray,
    b_bar: np.ndarray,
    lepton_bar: np.ndarray,
    nu_bar: np.ndarray,
) -> float:
    """m_tt of (b + ℓ⁺ + ν) + (b̄ + ℓ⁻ + ν̄), massless neutrinos."""
    e_nu = np.sqrt(nu[0] ** 2 + nu[1] ** 2 + nu[2] ** 2)
    e_nu_bar = np.sqrt(nu_bar[0] ** 2 + nu_bar[1] ** 2 + nu_bar[2] ** 2)
    total = b + lepton + b_bar + lepton_bar
    e = total[3] + e_nu + e_nu_bar
    px = total[0] + nu[0] + nu_bar[0]
    py = total[1] + nu[1] + nu_bar[1]
    pz = total[2] + nu[2] + nu_bar[2]
    return np.sqrt(max(0.0, e * e - px * px - py * py - pz * pz))


@numba.njit(cache=True)
def _met_mismatch(
    h: np.ndarray, h_bar: np.ndarray, t: float, u: float, met_x: float, met_y: float
) -> tuple[float, float, float, float, float, float]:
    """ν⊥(t) + ν̄⊥(u) − MET (2 components) and its Jacobian (∂/∂t, ∂/∂u of each component)."""
    ct, st, cu, su = np.cos(t), np.sin(t), np.cos(u), np.sin(u)
    rx = h[0, 0] * ct + h[0, 1] * st + h[0, 2] + h_bar[0, 0] * cu + h_bar[0, 1] * su + h_bar[0, 2]
    ry = h[1, 0] * ct + h[1, 1] * st + h[1, 2] + h_bar[1, 0] * cu + h_bar[1, 1] * su + h_bar[1, 2]
    return (
        rx - met_x,
        ry - met_y,
        -h[0, 0] * st + h[0, 1] * ct,
        -h_bar[0, 0] * su + h_bar[0, 1] * cu,
        -h[1, 0] * st + h[1, 1] * ct,
        -h_bar[1, 0] * su + h_bar[1, 1] * cu,
    )


@numba.njit(cache=True)
def _closest_approach(
    h: np.ndarray, h_bar: np.ndarray, met_x: float, met_y: float
) -> tuple[float, float, float]:
    """(t, t̄, |ν⊥(t) + ν̄⊥(t̄) − MET|²) at its minimum over the two ellipse parameters.

    The reference's fallback when the ellipses do not intersect (least squares).
    The surface can have several local minima, so Levenberg–Marquardt starts
    from the four best points of a 16 × 16 grid and the best end point wins.
    """
    steps, n_starts = 16, 4
    start_t, start_u, start_value = (
        np.zeros(n_starts),
        np.zeros(n_starts),
        np.full(n_starts, np.inf),
    )
    for i in range(steps):
        for j in range(steps):
            t, u = 2.0 * np.pi * i / steps, 2.0 * np.pi * j / steps
            rx, ry, _, _, _, _ = _met_mismatch(h, h_bar, t, u, met_x, met_y)
            value = rx * rx + ry * ry
            worst = np.argmax(start_value)
            if value < start_value[worst]:
                start_t[worst], start_u[worst], start_value[worst] = t, u, value
    best_t, best_u, best = 0.0, 0.0, np.inf
    for k in range(n_starts):
        t, u, value = start_t[k], start_u[k], start_value[k]
        damping = 1e-3
        for _ in range(40):
            rx, ry, j00, j01, j10, j11 = _met_mismatch(h, h_bar, t, u, met_x, met_y)
            a00 = j00 * j00 + j10 * j10 + damping
            a01 = j00 * j01 + j10 * j11
            a11 = j01 * j01 + j11 * j11 + damping
            g0, g1 = j00 * rx + j10 * ry, j01 * rx + j11 * ry
            det = a00 * a11 - a01 * a01
            t_new = t - (a11 * g0 - a01 * g1) / det
            u_new = u - (a00 * g1 - a01 * g0) / det
            rx, ry, _, _, _, _ = _met_mismatch(h, h_bar, t_new, u_new, met_x, met_y)
            if rx * rx + ry * ry < value:
                t, u, value = t_new, u_new, rx * rx + ry * ry
                damping *= 0.3
            else:
                damping *= 10.0
        if value < best:
            best_t, best_u, best = t, u, value
    return best_t, best_u, best


@numba.njit(cache=True, parallel=True)
def dilepton_neutrinos(
    b_jets: np.ndarray,
    lepton_pos: np.ndarray,
    lepton_neg: np.ndarray,
    met: np.ndarray,
    top_mass: np.ndarray,
    w_mass: np.ndarray,
    usable: np.ndarray,
    closest_approach: bool,
):
    """ν and ν̄ of dilepton events (paper §4), both b ↔ lepton pairings.

    Inputs: ``b_jets`` (n, 2, 4) the two b candidates; ``lepton_pos`` and
    ``lepton_neg`` (n, 4) ℓ⁺ and ℓ⁻; ``met`` (n, 2); ``top_mass`` and
    ``w_mass`` (n, 2) the assumptions for (t → b ℓ⁺ ν, t̄ → b̄ ℓ⁻ ν̄);
    ``usable`` (n,) False skips an event (e.g. fewer than two jets).
    Pairing 0 gives ``b_jets[:, 0]`` to ℓ⁺ and ``b_jets[:, 1]`` to ℓ⁻,
    pairing 1 swaps them.

    Choice: of all solutions of both pairings, the one with the smallest
    m_tt (the reference returns them all and does not choose). Without any
    solution the event is not ``valid``; with ``closest_approach`` it then
    takes, over the pairings whose ellipses exist (Z² clamped as in
    :func:`neutrino_ellipse`), the minimum of |ν⊥ + ν̄⊥ − MET|² (flagged).

    Returns ``momenta`` (n, 2, 3) (ν, ν̄), ``valid`` (n,), ``pairing`` (n,)
    (−1 where none), ``n_solutions`` (n, 2) per pairing, ``solutions``
    (n, 2, 4, 2, 3) every solution (pairing, index, ν/ν̄, xyz; zero beyond
    ``n_solutions``) and ``closest`` (n,) the closest-approach flag.
    """
    n = len(met)
    momenta = np.zeros((n, 2, 3))
    valid = np.zeros(n, dtype=np.bool_)
    pairing = np.full(n, -1, dtype=np.int8)
    n_solutions = np.zeros((n, 2), dtype=np.int8)
    solutions = np.zeros((n, 2, 4, 2, 3))
    closest = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        if not (
            usable[i]
            and usable_momenta(b_jets[i])
            and usable_momenta(lepton_pos[i])
            and usable_momenta(lepton_neg[i])
            and usable_momenta(met[i])
        ):
            continue
        scale = top_mass[i, 0]
        met_x, met_y = met[i, 0] / scale, met[i, 1] / scale
        lep, lep_bar = lepton_pos[i] / scale, lepton_neg[i] / scale
        gamma = np.array([[-1.0, 0.0, met_x], [0.0, -1.0, met_y], [0.0, 0.0, 1.0]])
        best_mass = np.inf
        best_residual = np.inf
        for k in range(2):
            b, b_bar = b_jets[i, k] / scale, b_jets[i, 1 - k] / scale
            h, ok, defined = neutrino_ellipse(b, lep, top_mass[i, 0] / scale, w_mass[i, 0] / scale)
            h_bar, ok_bar, defined_bar = neutrino_ellipse(
                b_bar, lep_bar, top_mass[i, 1] / scale, w_mass[i, 1] / scale
            )
            if not (defined and defined_bar):
                continue
            if ok and ok_bar:
                conic_bar = gamma.T @ transverse_conic(h_bar) @ gamma
                points = intersect_conics(transverse_conic(h), conic_bar)
                for p in range(len(points)):
                    nu = _lift(h, points[p, 0], points[p, 1])
                    nu_bar = _lift(h_bar, met_x - points[p, 0], met_y - points[p, 1])
                    if not (np.all(np.isfinite(nu)) and np.all(np.isfinite(nu_bar))):
                        continue
                    m = n_solutions[i, k]
                    solutions[i, k, m, 0] = nu * scale
                    solutions[i, k, m, 1] = nu_bar * scale
                    n_solutions[i, k] = m + 1
                    mass = _pair_mass(b, lep, nu, b_bar, lep_bar, nu_bar)
                    if mass < best_mass:
                        best_mass = mass
                        pairing[i] = k
                        momenta[i, 0], momenta[i, 1] = nu * scale, nu_bar * scale
                        valid[i] = True
            if closest_approach and not valid[i]:
                t, u, residual = _closest_approach(h, h_bar, met_x, met_y)
                if residual < best_residual:
                    best_residual = residual
                    pairing[i] = k
                    momenta[i, 0] = h @ np.array([np.cos(t), np.sin(t), 1.0]) * scale
                    momenta[i, 1] = h_bar @ np.array([np.cos(u), np.sin(u), 1.0]) * scale
        if closest_approach and not valid[i] and pairing[i] >= 0:
            valid[i] = True
            closest[i] = True
    return momenta, valid, pairing, n_solutions, solutions, closest


@numba.njit(cache=True)
def _single_chi2(
    h: np.ndarray, ok: bool, met_x: float, met_y: float, inverse_cov: np.ndarray
) -> tuple[np.ndarray, float, bool]:
    """(ν, χ², found) of one ellipse: the smallest-χ² stationary point of χ²(t) (paper §3)."""
    delta = -h
    delta[0, 2] += met_x
    delta[1, 2] += met_y
    s = np.zeros((3, 3))  # only the transverse mismatch enters χ²
    s[:2, :2] = inverse_cov
    x = delta.T @ s @ delta
    if not ok:  # clamped Z: the ellipse is one point, χ² does not depend on t
        tau = np.array([1.0, 0.0, 1.0])
        return h @ tau, tau @ x @ tau, True
    xd = x @ _DERIVATIVE
    # a writable copy: the same numba specialisation of the solver as the dilepton kernel
    points = intersect_conics(xd + xd.T, _UNIT_CIRCLE.copy())
    best, best_tau = np.inf, np.zeros(3)
    for p in range(len(points)):
        radius = np.hypot(points[p, 0], points[p, 1])
        tau = np.array([points[p, 0] / radius, points[p, 1] / radius, 1.0])
        chi2 = tau @ x @ tau
        if chi2 < best:
            best, best_tau = chi2, tau
    return h @ best_tau, best, len(points) > 0


@numba.njit(cache=True, parallel=True)
def single_neutrino(
    jets: np.ndarray,
    candidate: np.ndarray,
    lepton: np.ndarray,
    met: np.ndarray,
    met_inverse_covariance: np.ndarray,
    top_mass: np.ndarray,
    w_mass: np.ndarray,
):
    """The ν of semileptonic events (paper §3), trying every candidate b jet.

    Inputs: ``jets`` (n, J, 4) and ``candidate`` (n, J) the jets that may be
    b_lep; ``lepton`` (n, 4); ``met`` (n, 2); ``met_inverse_covariance``
    (n, 2, 2) in GeV⁻²; ``top_mass``, ``w_mass`` (n,).

    Choice of b_lep: the candidate whose ellipse gets closest to the MET
    (smallest χ²), among candidates with a real ellipse (Z² ≥ 0); only if no
    candidate has one, the smallest χ² of the clamped (point) ellipses, flagged
    in ``clamped``. Returns ``momenta`` (n, 3), ``valid`` (n,), ``jet_index``
    (n,) (−1 where none), ``chi2`` (n,) and ``clamped`` (n,).
    """
    n, n_jets = candidate.shape
    momenta = np.zeros((n, 3))
    valid = np.zeros(n, dtype=np.bool_)
    jet_index = np.full(n, -1, dtype=np.int64)
    chi2 = np.full(n, np.inf)
    clamped = np.zeros(n, dtype=np.bool_)
    for i in numba.prange(n):
        if not (usable_momenta(lepton[i]) and usable_momenta(met[i])):
            continue
        scale = top_mass[i]
        inverse_cov = met_inverse_covariance[i] * scale * scale
        for j in range(n_jets):
            if not (candidate[i, j] and usable_momenta(jets[i, j])):
                continue
            h, ok, defined = neutrino_ellipse(
                jets[i, j] / scale, lepton[i] / scale, 1.0, w_mass[i] / scale
            )
            if not defined:
                continue
            nu, value, found = _single_chi2(
                h, ok, met[i, 0] / scale, met[i, 1] / scale, inverse_cov
            )
            if not (found and np.isfinite(value) and np.all(np.isfinite(nu))):
                continue
            better = value < chi2[i] if ok == (not clamped[i]) else ok
            if jet_index[i] < 0 or better:
                momenta[i] = nu * scale
                chi2[i] = value
                jet_index[i] = j
                clamped[i] = not ok
                valid[i] = True
    return momenta, valid, jet_index, chi2, clamped
