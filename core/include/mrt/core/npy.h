// NumPy .npy files (format versions 1.0-3.0, little-endian, C order), the
// interchange format of `mrt run` and of reference data beside models.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "mrt/core/status.h"
#include "mrt/core/tensor.h"

namespace mrt {

// Parses .npy bytes. Errors name what is wrong (bad magic, unsupported
// descr, Fortran order, size mismatch).
Result<Tensor> parse_npy(std::string_view bytes, std::string tensor_name);
Result<Tensor> read_npy(const std::filesystem::path& path, std::string tensor_name);
// Serialises as format 1.0 (2.0 when the header needs it).
std::string serialize_npy(const Tensor& tensor);
Status write_npy(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace mrt
