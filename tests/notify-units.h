/* Shared by the two files of the test_notify program. */
#ifndef MMIRROR_NOTIFY_UNITS_H
#define MMIRROR_NOTIFY_UNITS_H

#include <check.h>

#define T0 INT64_C(1796450000)	/* Dec 2026 */
#define REMIND 3600

/* The unit tables of test_notify_units.c. */
Suite *notify_unit_suite(void);

#endif
