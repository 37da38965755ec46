// Feeding one dilepton event to a ν²-Flows model exported with
//
//     nuanalysis export --channel dilepton --out nu2flows.onnx
//
// from C++ with ONNX Runtime (https://onnxruntime.ai, C++ API). The input
// layout below is the one nu2flows.json (written beside the graph, also in the
// graph's metadata under the key "nuanalysis") declares; read it to check a
// model before use. Not built in CI; to build against an ONNX Runtime release:
//
//     g++ -std=c++17 onnx_inference.cpp -I$ORT/include -L$ORT/lib -lonnxruntime
//
// Inputs (B events, S draws; GeV and radians; objects pT-ordered):
//   met      (B, 2)      float  px, py of the missing transverse momentum
//   leptons  (B, 2, 6)   float  px, py, eta, log(E), is_muon (0/1), charge (+-1)
//   jets     (B, 10, 5)  float  px, py, eta, log(E), is_b (0/1); rows past the
//                               last jet are all zero
//   jet_mask (B, 10)     bool   true for a real jet
//   misc     (B, 2)      float  number of jets, number of b-tagged jets
//   noise    (B, S, 6)   float  standard-normal latent draws (zeros: the latent
//                               mode's image; draw S of them for the posterior)
// Outputs:
//   samples  (B, S, 6)   float  px, py, eta of nu (from W+), then of nubar
//   log_prob (B, S)      float  log-density of each sample; the highest of 256
//                               draws is the paper's most probable solution
//                               (nuanalysis's default `flow` climbs further from
//                               the best draws: one more Run per step, with
//                               z + 0.01 e_i rows for forward differences;
//                               ascend_mode_by_differences in flows/ascent.py)
// A semileptonic model has 1 lepton of 5 features (no charge) and 3 targets.

#include <onnxruntime_cxx_api.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

struct Object {  // a reconstructed lepton or jet
    float pt, eta, phi, mass;
};

// px, py, eta, log(E) of an object, the first four features of every group
static std::array<float, 4> kinematics(const Object& o) {
    const float px = o.pt * std::cos(o.phi), py = o.pt * std::sin(o.phi);
    const float pz = o.pt * std::sinh(o.eta);
    const float e = std::sqrt(px * px + py * py + pz * pz + o.mass * o.mass);
    return {px, py, o.eta, std::log(e)};
}

int main() {
    constexpr int64_t kLeptons = 2, kLeptonFeatures = 6, kMaxJets = 10, kJetFeatures = 5;
    constexpr int64_t kTargets = 6, kDraws = 256;

    // one event: l+ (muon), l- (electron), four jets (two b-tagged), MET
    const Object leptons[kLeptons] = {{62.1f, 0.41f, 1.20f, 0.106f}, {35.7f, -0.83f, -2.10f, 0.0f}};
    const int is_muon[kLeptons] = {1, 0}, charge[kLeptons] = {+1, -1};
    const Object jets[] = {{112.f, 0.2f, -1.9f, 12.f}, {75.f, -1.1f, 0.7f, 9.f},
                           {48.f, 1.6f, 2.8f, 7.f}, {31.f, -0.4f, -0.2f, 5.f}};
    const bool is_b[] = {true, true, false, false};
    const int n_jets = 4;
    const float met = 71.4f, met_phi = -0.35f;

    std::vector<float> met_in = {met * std::cos(met_phi), met * std::sin(met_phi)};
    std::vector<float> lepton_in(kLeptons * kLeptonFeatures);
    for (int i = 0; i < kLeptons; ++i) {
        const auto k = kinematics(leptons[i]);
        float* row = &lepton_in[i * kLeptonFeatures];
        for (int j = 0; j < 4; ++j) row[j] = k[j];
        row[4] = static_cast<float>(is_muon[i]);
        row[5] = static_cast<float>(charge[i]);
    }
    std::vector<float> jet_in(kMaxJets * kJetFeatures, 0.0f);  // padding stays zero
    std::array<bool, kMaxJets> jet_mask{};                        // all false
    int n_b = 0;
    for (int i = 0; i < n_jets && i < kMaxJets; ++i) {
        const auto k = kinematics(jets[i]);
        float* row = &jet_in[i * kJetFeatures];
        for (int j = 0; j < 4; ++j) row[j] = k[j];
        row[4] = is_b[i] ? 1.0f : 0.0f;
        jet_mask[i] = true;
        n_b += is_b[i];
    }
    std::vector<float> misc_in = {static_cast<float>(n_jets), static_cast<float>(n_b)};
    std::vector<float> noise(kDraws * kTargets);
    std::mt19937 generator(12345);  // seed it per event in an analysis
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& z : noise) z = normal(generator);

    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "nu2flows");
    Ort::SessionOptions options;
    options.SetIntraOpNumThreads(1);
    Ort::Session session(env, "nu2flows.onnx", options);
    const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

    const std::array<int64_t, 2> met_shape{1, 2}, mask_shape{1, kMaxJets}, misc_shape{1, 2};
    const std::array<int64_t, 3> lepton_shape{1, kLeptons, kLeptonFeatures};
    const std::array<int64_t, 3> jet_shape{1, kMaxJets, kJetFeatures};
    const std::array<int64_t, 3> noise_shape{1, kDraws, kTargets};
    std::vector<Ort::Value> inputs;
    inputs.push_back(Ort::Value::CreateTensor<float>(memory, met_in.data(), met_in.size(),
                                                     met_shape.data(), met_shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<float>(memory, lepton_in.data(), lepton_in.size(),
                                                     lepton_shape.data(), lepton_shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<float>(memory, jet_in.data(), jet_in.size(),
                                                     jet_shape.data(), jet_shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<bool>(memory, jet_mask.data(), jet_mask.size(),
                                                    mask_shape.data(), mask_shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<float>(memory, misc_in.data(), misc_in.size(),
                                                     misc_shape.data(), misc_shape.size()));
    inputs.push_back(Ort::Value::CreateTensor<float>(memory, noise.data(), noise.size(),
                                                     noise_shape.data(), noise_shape.size()));

    const char* input_names[] = {"met", "leptons", "jets", "jet_mask", "misc", "noise"};
    const char* output_names[] = {"samples", "log_prob"};
    auto outputs = session.Run(Ort::RunOptions{nullptr}, input_names, inputs.data(),
                               inputs.size(), output_names, 2);
    const float* samples = outputs[0].GetTensorData<float>();
    const float* log_prob = outputs[1].GetTensorData<float>();

    int best = 0;  // the most probable of the draws (`flow.estimator=draws`)
    for (int s = 1; s < kDraws; ++s)
        if (log_prob[s] > log_prob[best]) best = s;
    const float* nu = &samples[best * kTargets];
    for (int n = 0; n < 2; ++n) {
        const float px = nu[3 * n], py = nu[3 * n + 1], eta = nu[3 * n + 2];
        const float pz = std::hypot(px, py) * std::sinh(eta);
        std::printf("%s: px %.1f py %.1f pz %.1f GeV\n", n == 0 ? "nu" : "nubar", px, py, pz);
    }
    return 0;
}
