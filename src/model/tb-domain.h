/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "macro.h"

/* The security levels of a Thunderbolt/USB4 domain (Documentation/admin-guide/thunderbolt.rst). */
typedef enum TbSecurity {
        TB_SECURITY_UNKNOWN,
        TB_SECURITY_NONE,    /* everything is connected automatically */
        TB_SECURITY_USER,    /* the user writes 1 to authorized */
        TB_SECURITY_SECURE,  /* as user, plus a key challenged on later connects */
        TB_SECURITY_DPONLY,  /* DisplayPort only: no PCIe tunnels */
        TB_SECURITY_USBONLY, /* USB only: no PCIe tunnels */
        TB_SECURITY_NOPCIE,  /* USB4: PCIe tunnelling disabled */
} TbSecurity;

typedef struct TbDomain {
        char *syspath;
        char *name;    /* "domain0" */
        char *nhi_bdf; /* the host interface's PCI address, from the parent folder; NULL if none */
        TbSecurity security;
        int iommu_dma_protection; /* 0/1, -1 when absent */
        int deauthorization;      /* 0/1, -1 when absent */
} TbDomain;

int tb_domain_new_from_udev(struct udev_device *d, TbDomain **ret);
TbDomain *tb_domain_free(TbDomain *d);
/* A copy of d with every field its own. */
int tb_domain_dup(const TbDomain *d, TbDomain **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(TbDomain *, tb_domain_free);

const char *tb_security_to_string(TbSecurity s) _pure_;
TbSecurity tb_security_from_string(const char *s) _pure_;
/* Whether the level allows PCIe tunnels at all. */
bool tb_security_allows_pcie(TbSecurity s) _pure_;
