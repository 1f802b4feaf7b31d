#ifndef EXP_CLIBCRYPTO_SHIM_H
#define EXP_CLIBCRYPTO_SHIM_H

/* OpenSSL's libcrypto, for SHA-256 (it uses the CPU's SHA instructions when there are any). */
#include <openssl/evp.h>
#include <errno.h>

#ifdef __linux__
#include <sys/ioctl.h>
#include <linux/fs.h>
#endif

/* Makes `destination` share `source`'s blocks (a reflink: copy-on-write, no data copied).
   FICLONE is a macro built from _IOW, which does not import into Swift. Returns 0, or -1
   with errno set (EOPNOTSUPP, EXDEV, EINVAL when the filesystem cannot). */
static inline int exp_reflink(int destination, int source) {
#if defined(__linux__) && defined(FICLONE)
    return ioctl(destination, FICLONE, source);
#else
    (void)destination;
    (void)source;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

#endif
