#ifndef EXP_CLIBGIT2_SHIM_H
#define EXP_CLIBGIT2_SHIM_H

#include <git2.h>
#include <git2/sys/repository.h>
/* zlib (which libgit2 itself uses and libgit2-dev brings): exp compresses large blobs on all
   cores into git's loose object format. */
#include <zlib.h>

/* git_libgit2_opts is variadic and does not import into Swift. */
static inline int exp_git_set_search_path(int level, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, path);
}

static inline int exp_git_enable_strict_object_creation(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, enabled);
}

#endif
