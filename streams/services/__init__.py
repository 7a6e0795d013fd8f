"""Application services, built from the core and adapters: the order and inventory writers
(on one transactional loop), DOM, the backorder job, replay, the projection, the
operations monitor and what-if."""
