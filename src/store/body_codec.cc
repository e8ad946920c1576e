#include "store/body_codec.h"

#include <zstd.h>

#include <memory>

namespace wavebot::store {
namespace {

struct CctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// Level 1: about 1 GB/s on this payload and 7x smaller; higher levels cost more than the bytes they save.
constexpr int kLevel = 1;

}  // namespace

std::string CompressBody(std::string_view body) {
  // A context per thread: making one per call allocates and clears its tables every time.
  thread_local std::unique_ptr<ZSTD_CCtx, CctxFree> cctx = [] {
    std::unique_ptr<ZSTD_CCtx, CctxFree> c(ZSTD_createCCtx());
    if (c) {
      ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, kLevel);
      // A checksum of the content in each frame, so a damaged row is an error when read, never other JSON.
      ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 1);
    }
    return c;
  }();
  if (!cctx) return std::string();
  std::string out(ZSTD_compressBound(body.size()), '\0');
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), body.data(), body.size());
  if (ZSTD_isError(n)) {
    // Only a failed allocation gets here; the caller keeps the raw body then.
    return std::string();
  }
  out.resize(n);
  return out;
}

Result<std::string> DecodeBody(std::string_view stored, std::string_view encoding, size_t max_bytes) {
  if (encoding == kBodyIdentity) return std::string(stored);
  if (encoding != kBodyZstd) {
    return Error(ErrorCode::kInvalidArgument, "stored body has an unknown encoding '" + std::string(encoding) + "'");
  }
  unsigned long long size = ZSTD_getFrameContentSize(stored.data(), stored.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Error(ErrorCode::kParse, "stored body is not a complete zstd frame");
  }
  if (size > max_bytes) {
    return Error(ErrorCode::kParse, "stored body says it holds " + std::to_string(size) + " bytes, over the " +
                                           std::to_string(max_bytes) + "-byte limit");
  }
  thread_local std::unique_ptr<ZSTD_DCtx, DctxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return Error(ErrorCode::kIo, "cannot allocate a zstd decompression context");
  std::string out(static_cast<size_t>(size), '\0');
  size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != out.size()) {
    return Error(ErrorCode::kParse, std::string("stored body cannot be decompressed: ") +
                                           (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  }
  return out;
}

}  // namespace wavebot::store
